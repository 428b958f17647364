"""Writes and verification of agent keys and org keys.

A secret is returned to the caller exactly once, by the function that creates it, and is
never stored or logged; everything after that works on its digest.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.models import App
from core.actors import Actor
from core.errors import GatewayError, forbidden, invalid_request, unauthorized
from core.model_changes import snapshot
from forensics.services import event_record, update_recorded
from identity.models import Agent, AgentStatus
from keys.models import CredentialState, Key, OrgKey, OrgRole
from keys.rules import (
    MAX_LIFETIME_DAYS,
    MIN_LIFETIME_DAYS,
    SCOPES,
    grace_seconds_clean,
    lifetime_days_clean,
    scopes_clean,
)
from keys.secrets import (
    AGENT_KEY_PREFIX,
    ORG_KEY_PREFIX,
    digest_matches,
    secret_digest,
    secret_display_prefix,
    secret_generate,
)
from tenants.models import Membership, MembershipRole

KEY_EVENT_FIELDS = [
    "name", "agent", "app", "scopes", "rate_limit", "expires_at", "identity_header_mode",
    "enforce_identity", "allowed_user_domains", "allowed_models", "prefix",
]  # fmt: skip


@transaction.atomic
def key_create(
    *,
    agent: Agent,
    actor: Actor,
    name: str = "",
    scopes: list[str] | None = None,
    rate_limit: int | None = None,
    expires_in_days: int | None = None,
    app: App | None = None,
    identity_header_mode: bool | None = None,
    enforce_identity: bool | None = None,
    allowed_user_domains: list[str] | None = None,
    allowed_models: list[str] | None = None,
) -> tuple[Key, str]:
    """Issue an agent key; returns the record and the secret, which is shown once."""
    if agent.deleted_at is not None:
        raise ValidationError({"agent": "the agent is deleted"})
    if app is not None and app.tenant_id != agent.tenant_id:
        raise ValidationError({"app_id": "names no app of this tenant"})
    days = lifetime_days_clean(settings.KEY_DEFAULT_LIFETIME_DAYS if expires_in_days is None else expires_in_days)
    secret = secret_generate(AGENT_KEY_PREFIX)
    key = Key(
        tenant_id=agent.tenant_id,
        agent=agent,
        app=app,
        name=name,
        scopes=list(SCOPES) if scopes is None else scopes,
        rate_limit=rate_limit,
        identity_header_mode=identity_header_mode,
        enforce_identity=enforce_identity,
        allowed_user_domains=allowed_user_domains,
        allowed_models=allowed_models,
        expires_at=timezone.now() + timedelta(days=days),
        digest=secret_digest(secret),
        prefix=secret_display_prefix(secret),
    )
    key.scopes = scopes_clean(key.scopes)
    key.full_clean()
    key.save()
    event_record(key, actor=actor, action="key.created", changes=snapshot(key, KEY_EVENT_FIELDS))
    return key, secret


KEY_IDENTITY_FIELDS = ["identity_header_mode", "enforce_identity", "allowed_user_domains"]
KEY_EDITABLE_FIELDS = ["name", "rate_limit", "allowed_models", *KEY_IDENTITY_FIELDS]


@transaction.atomic
def key_update(*, key: Key, actor: Actor, data: dict) -> Key:
    """Only a key's name, rate limit, model list and identity overrides change; its secret and
    scopes never do."""
    unknown = set(data) - set(KEY_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({next(iter(unknown)): "cannot be changed on an existing key"})
    update_recorded(key, data, fields=KEY_EDITABLE_FIELDS, actor=actor, action="key.updated")
    return key


@transaction.atomic
def key_revoke(*, key: Key, actor: Actor) -> Key:
    """Revoke now (idempotent). A key already past its revocation time is left as it is."""
    now = timezone.now()
    if key.revoked_at is not None and key.revoked_at <= now:
        return key
    before = key.revoked_at
    key.revoked_at = now
    key.save(update_fields=["revoked_at", "updated_at"])
    event_record(
        key,
        actor=actor,
        action="key.revoked",
        changes={"revoked_at": {"before": before and before.isoformat(), "after": now.isoformat()}},
    )
    return key


@transaction.atomic
def key_rotate(*, key: Key, actor: Actor, grace_seconds: int = 0) -> tuple[Key, str]:
    """Issue a successor with the same settings; the old secret works ``grace_seconds`` more."""
    grace = grace_seconds_clean(grace_seconds)
    key = Key.objects.select_for_update().get(pk=key.pk)
    if key.state() != CredentialState.ACTIVE or key.rotated_to_id is not None:
        raise invalid_request("only an active key that was not rotated yet can be rotated", "key_not_active")
    # The successor gets the old key's lifetime. expires_at is computed a moment before the row's
    # created_at, so the difference is a hair under whole days: round it, or every rotation
    # would lose a day.
    lifetime_days = None
    if key.expires_at is not None:
        lifetime = round((key.expires_at - key.created_at).total_seconds() / 86400)
        lifetime_days = min(max(lifetime, MIN_LIFETIME_DAYS), MAX_LIFETIME_DAYS)
    new_key, secret = key_create(
        agent=key.agent, actor=actor, name=key.name, scopes=key.scopes, rate_limit=key.rate_limit,
        expires_in_days=lifetime_days, app=key.app, identity_header_mode=key.identity_header_mode,
        enforce_identity=key.enforce_identity, allowed_user_domains=key.allowed_user_domains,
        allowed_models=key.allowed_models,
    )  # fmt: skip
    ends = timezone.now() + timedelta(seconds=grace)
    key.rotated_to = new_key
    key.revoked_at = ends
    key.save(update_fields=["rotated_to", "revoked_at", "updated_at"])
    event_record(
        key,
        actor=actor,
        action="key.rotated",
        changes={
            "rotated_to": {"before": None, "after": new_key.id},
            "revoked_at": {"before": None, "after": ends.isoformat()},
        },
    )
    return new_key, secret


def credential_state_error(state: str) -> GatewayError | None:
    """The 401 of a key that exists but cannot be used (SPEC 3.1)."""
    if state == CredentialState.REVOKED:
        return unauthorized("key_revoked", "this key has been revoked")
    if state == CredentialState.EXPIRED:
        return unauthorized("key_expired", "this key has expired")
    return None


def key_verify(secret: str) -> Key:
    """Resolve an agent key secret to its usable record, or raise the SPEC's 401/403."""
    if secret.startswith(ORG_KEY_PREFIX):
        raise forbidden("wrong_credential_type", "an org key cannot be used on the proxy")
    if not secret.startswith(AGENT_KEY_PREFIX):
        raise unauthorized("invalid_key", "invalid API key")
    key = Key.objects.select_related("agent").filter(digest=secret_digest(secret)).first()
    # The digest lookup is an equality on a keyed hash; compare again in constant time anyway.
    if key is None or not digest_matches(secret, key.digest):
        raise unauthorized("invalid_key", "invalid API key")
    error = credential_state_error(key.state())
    if error:
        raise error
    if key.agent.status == AgentStatus.SUSPENDED or key.agent.deleted_at is not None:
        raise forbidden("agent_suspended", "the agent of this key is suspended")
    return key


def credential_touch(model: type[Key] | type[OrgKey], credential_id: str) -> None:
    """Record last use at most once per resolution window, so a busy key causes no write storm."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.KEY_LAST_USED_RESOLUTION_SECONDS)
    model.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff), pk=credential_id).update(
        last_used_at=now
    )


# --- org keys ---

ORG_KEY_EVENT_FIELDS = ["name", "role", "expires_at", "prefix"]


@transaction.atomic
def org_key_create(
    *,
    tenant_id: str,
    actor: Actor,
    name: str = "",
    role: str = OrgRole.ADMIN,
    expires_in_days: int | None = None,
) -> tuple[OrgKey, str]:
    if role not in OrgRole.values:
        raise ValidationError({"role": "must be admin or viewer"})
    expires_at = None
    if expires_in_days is not None:
        expires_at = timezone.now() + timedelta(days=lifetime_days_clean(expires_in_days))
    secret = secret_generate(ORG_KEY_PREFIX)
    org_key = OrgKey(
        tenant_id=tenant_id, name=name, role=role, expires_at=expires_at,
        digest=secret_digest(secret), prefix=secret_display_prefix(secret),
    )  # fmt: skip
    org_key.full_clean()
    org_key.save()
    event_record(org_key, actor=actor, action="org_key.created", changes=snapshot(org_key, ORG_KEY_EVENT_FIELDS))
    return org_key, secret


def tenant_admin_credentials_count(*, tenant_id: str, excluding_org_key_id: str | None = None) -> int:
    """Active admin org keys plus console admins: a tenant must never drop to zero."""
    now = timezone.now()
    keys = OrgKey.objects.for_tenant(tenant_id).filter(role=OrgRole.ADMIN).exclude(revoked_at__lte=now)
    keys = keys.exclude(expires_at__lte=now)
    if excluding_org_key_id:
        keys = keys.exclude(pk=excluding_org_key_id)
    users = Membership.objects.filter(tenant_id=tenant_id, role=MembershipRole.ADMIN, user__is_active=True)
    return keys.count() + users.count()


@transaction.atomic
def org_key_revoke(*, org_key: OrgKey, actor: Actor) -> None:
    """Revoke now (idempotent); refuses the tenant's last admin credential (``last_admin``)."""
    # Lock the tenant's admin keys so two concurrent deletes cannot both pass the check.
    list(OrgKey.objects.select_for_update().for_tenant(org_key.tenant_id).filter(role=OrgRole.ADMIN))
    org_key.refresh_from_db(fields=["revoked_at", "expires_at", "role"])
    now = timezone.now()
    if org_key.revoked_at is not None and org_key.revoked_at <= now:
        # Already revoked: keep the original time, and record no second revocation.
        return
    last_admin = (
        org_key.role == OrgRole.ADMIN
        and org_key.state() == CredentialState.ACTIVE
        and tenant_admin_credentials_count(tenant_id=org_key.tenant_id, excluding_org_key_id=org_key.id) == 0
    )
    if last_admin:
        raise invalid_request("the last admin credential of a tenant cannot be removed", "last_admin")
    org_key.revoked_at = now
    org_key.save(update_fields=["revoked_at", "updated_at"])
    event_record(
        org_key,
        actor=actor,
        action="org_key.revoked",
        changes={"revoked_at": {"before": None, "after": now.isoformat()}},
    )


def org_key_verify(secret: str) -> OrgKey:
    """Resolve a management credential, or raise the SPEC's 401/403."""
    if secret.startswith(AGENT_KEY_PREFIX):
        raise forbidden("wrong_credential_type", "an agent key cannot be used on the management API")
    if not secret.startswith(ORG_KEY_PREFIX):
        raise unauthorized("invalid_key", "invalid org key")
    org_key = OrgKey.objects.filter(digest=secret_digest(secret)).first()
    if org_key is None or not digest_matches(secret, org_key.digest):
        raise unauthorized("invalid_key", "invalid org key")
    error = credential_state_error(org_key.state())
    if error:
        raise error
    return org_key
