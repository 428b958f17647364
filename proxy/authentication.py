"""Stage 1-2 of the pipeline: who is calling (SPEC 3.1) and for which app (SPEC 3.2)."""

from __future__ import annotations

import time

from core.errors import GatewayError, forbidden, invalid_request, not_found, unauthorized
from proxy.access import ENDPOINT_SCOPES
from proxy.config_cache import ConfigCache
from proxy.config_snapshot import AppEntry, KeyEntry, TenantConfig
from proxy.credentials import credential_find, credential_kind
from proxy.jwt_verification import TokenVerifier, jwt_authenticate
from proxy.request_context import RequestContext
from proxy.session_auth import (
    PLAYGROUND_HEADER,
    session_caller_load,
    session_key_of,
    session_request_check,
    unknown_agent,
)

APP_MISMATCH = GatewayError(403, "app_mismatch", "this key is bound to another app")


def unknown_app() -> GatewayError:
    return not_found("no such app", "unknown_app")


def _app_by_ref(config: TenantConfig, ref: str) -> AppEntry | None:
    app = config.apps.get(ref)
    if app is None and ref in config.slugs:
        app = config.apps[config.slugs[ref]]
    return app


async def caller_authenticate(
    ctx: RequestContext, cache: ConfigCache, tokens: TokenVerifier
) -> tuple[TenantConfig, AppEntry, KeyEntry | None]:
    """Resolve the credential and the app; fills the context's tenant, app, agent and key."""
    path_config: TenantConfig | None = None
    path_app: AppEntry | None = None
    if ctx.app_slug is not None:
        path_config = await cache.tenant_of_slug(ctx.app_slug)
        if path_config is None:
            raise unknown_app()
        path_app = path_config.apps[path_config.slugs[ctx.app_slug]]
        ctx.tenant_id, ctx.app_id = path_config.tenant_id, path_app.id
        secret = credential_find(ctx.headers, ctx.query, key_name=path_app.key_name, key_location=path_app.key_location)
    else:
        secret = credential_find(ctx.headers, ctx.query)
        if not secret and ctx.headers.get("x-app-id"):
            # A token may sit where the app named by X-App-Id expects its credential.
            path_config = await cache.tenant_of_app_ref(ctx.headers["x-app-id"])
            app = _app_by_ref(path_config, ctx.headers["x-app-id"]) if path_config is not None else None
            if path_config is not None and app is not None:
                secret = credential_find(ctx.headers, ctx.query, key_name=app.key_name, key_location=app.key_location)
                if secret and credential_kind(secret) == "jwt":
                    ctx.tenant_id, ctx.app_id = path_config.tenant_id, app.id
                    return await _jwt_authenticate(ctx, cache, tokens, secret, path_config, app)
            path_config = None

    if not secret:
        session_key = session_key_of(ctx.headers)
        if session_key and ctx.headers.get(PLAYGROUND_HEADER):
            return await _session_authenticate(ctx, cache, session_key, path_config, path_app)
        raise unauthorized("missing_credential", "no credential: send a key or a token")
    kind = credential_kind(secret)
    if kind == "org_key":
        raise forbidden("wrong_credential_type", "an org key cannot be used on the proxy")
    if kind == "jwt":
        return await _jwt_authenticate(ctx, cache, tokens, secret, path_config, path_app)
    if kind != "agent_key":
        raise unauthorized("invalid_key", "invalid API key")

    found = await cache.key(secret)
    if found is None:
        raise unauthorized("invalid_key", "invalid API key")
    key, config = found
    if path_config is not None and config.tenant_id != path_config.tenant_id:
        # Another tenant's key on this app's path: refused, and nothing of that tenant is recorded here.
        raise APP_MISMATCH
    ctx.tenant_id, ctx.key_id, ctx.agent_id, ctx.credential = key.tenant_id, key.id, key.agent_id, "key"
    state = key.state(time.time())
    if state == "revoked":
        raise unauthorized("key_revoked", "this key has been revoked")
    if state == "expired":
        raise unauthorized("key_expired", "this key has expired")
    # ConfigCache.key has read the agent into this snapshot; the read is for an agent it found absent.
    agent = config.agents.get(key.agent_id) or await cache.agent(config, key.agent_id)
    if agent is None:
        # Read after the key (ConfigCache.agent): its agent is gone.
        raise unauthorized("invalid_key", "invalid API key")
    ctx.agent = agent
    if not agent.active:
        raise forbidden("agent_suspended", "the agent of this key is suspended")
    ctx.scopes = key.scopes
    if path_app is not None:
        app = path_app
    else:
        config, app = await _app_for_plain_path(ctx, cache, config, key)
    if key.app_id is not None and key.app_id != app.id:
        raise APP_MISMATCH
    ctx.app_id = app.id
    return config, app, key


async def _app_for_plain_path(
    ctx: RequestContext, cache: ConfigCache, config: TenantConfig, key: KeyEntry
) -> tuple[TenantConfig, AppEntry]:
    ref = ctx.headers.get("x-app-id")
    if key.app_id is not None:
        app = config.apps.get(key.app_id)
        if app is None:
            raise unknown_app()
        if ref is not None and ref not in (app.id, app.slug):
            raise APP_MISMATCH
        return config, app
    if ref is not None:
        app = _app_by_ref(config, ref)
        if app is None:
            # Perhaps created a moment ago on another process: confirmed before refusing.
            config = await cache.tenant_confirmed(config, ctx.started)
            app = _app_by_ref(config, ref)
            if app is None:
                raise unknown_app()
        return config, app
    if config.default_app_id is None:
        raise invalid_request("name the app with X-App-Id: this tenant has no default app", "app_required")
    return config, config.apps[config.default_app_id]


async def _jwt_authenticate(
    ctx: RequestContext,
    cache: ConfigCache,
    tokens: TokenVerifier,
    token: str,
    config: TenantConfig | None,
    app: AppEntry | None,
) -> tuple[TenantConfig, AppEntry, None]:
    if app is None:
        ref = ctx.headers.get("x-app-id")
        if not ref:
            raise unauthorized("app_required", "a JWT is accepted only in an app context")
        config = await cache.tenant_of_app_ref(ref)
        if config is None:
            raise unknown_app()
        app = _app_by_ref(config, ref)
        if app is None:
            raise unknown_app()
        ctx.tenant_id, ctx.app_id = config.tenant_id, app.id
    if config is None or not app.jwt:
        raise unauthorized("invalid_token", "this app accepts no JWT")
    # The agent the app's tokens act as (one per app, named by its settings, not by the token).
    agent = await cache.agent(config, app.jwt["agent_id"])
    await jwt_authenticate(ctx, tokens, agent, app, token)
    return config, app, None


async def _session_authenticate(
    ctx: RequestContext, cache: ConfigCache, session_key: str, path_config: TenantConfig | None,
    path_app: AppEntry | None,
) -> tuple[TenantConfig, AppEntry, None]:  # fmt: skip
    agent_id = session_request_check(ctx.headers)
    caller = await cache.db.run(session_caller_load, session_key, agent_id)
    if caller is None:
        raise unauthorized("invalid_session", "the console session is not valid")
    if not caller.tenant_id or (path_config is not None and path_config.tenant_id != caller.tenant_id):
        raise unknown_agent()
    config = path_config or await cache.tenant(caller.tenant_id)
    if config is None:
        raise unknown_agent()
    # Read from the database on its first use with this snapshot: an absence is current.
    agent = await cache.agent(config, agent_id)
    if agent is None:
        raise unknown_agent()
    ctx.agent = agent
    ctx.tenant_id, ctx.agent_id, ctx.key_id, ctx.credential = config.tenant_id, agent_id, None, "session"
    ctx.user = ctx.user_email = caller.email
    ctx.identity_source = "session"
    if not agent.active:
        raise forbidden("agent_suspended", "the agent is suspended")
    ctx.scopes = frozenset(ENDPOINT_SCOPES.values())
    app = path_app
    if app is None:
        ref = ctx.headers.get("x-app-id")
        if not ref:
            if config.default_app_id is None:
                raise invalid_request("name the app with X-App-Id", "app_required")
            app = config.apps[config.default_app_id]
        elif (app := _app_by_ref(config, ref)) is None:
            config = await cache.tenant_confirmed(config, ctx.started)
            if (app := _app_by_ref(config, ref)) is None:
                raise unknown_app()
    ctx.app_id = app.id
    return config, app, None
