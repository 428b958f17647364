"""End-user identity from the ``X-User-Email`` header (SPEC 3.3); JWT identity lives in
``proxy.jwt_verification`` and feeds the same checks."""

from __future__ import annotations

from core.errors import forbidden, invalid_request
from core.validation import TOKEN_ID_RE, is_email
from proxy.config_snapshot import AppEntry, KeyEntry
from proxy.request_context import RequestContext


def identity_settings(app: AppEntry, key: KeyEntry | None) -> tuple[bool, bool, tuple[str, ...] | None]:
    """Header mode, enforcement and allowed domains: the key's value where set, else the app's."""
    if key is None:
        return app.identity_header_mode, app.enforce_identity, app.allowed_user_domains
    header_mode = app.identity_header_mode if key.identity_header_mode is None else key.identity_header_mode
    enforce = app.enforce_identity if key.enforce_identity is None else key.enforce_identity
    domains = app.allowed_user_domains if key.allowed_user_domains is None else key.allowed_user_domains
    return header_mode, enforce, domains


def domain_check(email: str | None, domains: tuple[str, ...] | None) -> None:
    """An empty tuple (a key's ``[]``) means any domain; None means no restriction."""
    if not domains:
        return
    domain = email.rsplit("@", 1)[-1].lower() if email and "@" in email else None
    if domain is None or domain not in domains:
        raise forbidden("domain_not_allowed", "the user's email domain is not allowed for this app")


def header_identity_resolve(ctx: RequestContext, app: AppEntry, key: KeyEntry | None) -> None:
    """Fill the request's user from the header (when allowed) and apply the identity rules."""
    header_mode, enforce, domains = identity_settings(app, key)
    if ctx.credential == "jwt":
        domain_check(ctx.user_email, domains if ctx.user else None)
    elif header_mode:
        raw = ctx.headers.get("x-user-email")
        if raw is not None:
            email = raw.strip()
            if not is_email(email):
                raise invalid_request("X-User-Email is not a valid email address", "invalid_user_email")
            ctx.user = ctx.user_email = email.lower()
            ctx.identity_source = "header"
            domain_check(ctx.user_email, domains)
    # A verified token satisfies enforcement by itself (SPEC 3.3).
    if enforce and ctx.user is None and ctx.credential != "jwt":
        raise forbidden("identity_required", "this app requires an end-user identity")


def conversation_id_read(ctx: RequestContext) -> None:
    raw = ctx.headers.get("x-conversation-id")
    if raw is None:
        return
    if not TOKEN_ID_RE.match(raw):
        raise invalid_request(
            "X-Conversation-Id must be 1-128 characters of [A-Za-z0-9._:-]", "invalid_conversation_id"
        )
    ctx.conversation_id = raw


def client_request_id_read(ctx: RequestContext) -> None:
    raw = ctx.headers.get("x-request-id")
    if raw is not None and TOKEN_ID_RE.match(raw):
        ctx.client_request_id = raw
