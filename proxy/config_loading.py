"""Snapshots and key entries read from the database, off the hot path.

``proxy.config_cache`` calls these on a miss, on its thread pool; every row that names a
tenant carries that tenant's ``config_version`` from the same statement (see
``ConfigCache.key``).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from apps.models import App, GuardrailPolicy, JwtRevocation, Policy
from core.crypto import decrypt_secret
from identity.models import Agent, AgentStatus
from keys.models import Key
from providers.models import Alias, ModelPrice, Provider
from proxy.config_snapshot import (
    AgentEntry,
    AppEntry,
    GuardrailEntry,
    JwtRevocations,
    KeyEntry,
    PolicyEntry,
    ProviderEntry,
    TenantConfig,
)
from proxy.guardrail_patterns import blocked_pattern_compile
from tenants.models import Tenant

# A policy's limits, read and kept as they are stored.
POLICY_LIMIT_FIELDS = (
    "requests_per_minute",
    "tokens_per_minute",
    "max_concurrent_requests",
    "user_requests_per_minute",
    "daily_token_budget",
    "monthly_token_budget",
    "user_daily_token_budget",
    "max_tokens_per_request",
)


def _epoch(value) -> float | None:
    return value.timestamp() if value is not None else None


def _tuple_or_none(value) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def key_entry_load(digest: str) -> KeyEntry | None:
    """One indexed query on the keyed digest, stamped with its tenant's ``config_version``.

    The stamp is read in the same statement as the key, so it is at least the version of every
    change committed before the key was visible: a snapshot older than it may lack the key's
    agent or app and must be reloaded before the key is used (``ConfigCache.key``).
    """
    row = (
        Key.objects.filter(digest=digest)
        .values(
            "id",
            "tenant_id",
            "agent_id",
            "app_id",
            "scopes",
            "rate_limit",
            "identity_header_mode",
            "enforce_identity",
            "allowed_user_domains",
            "allowed_models",
            "expires_at",
            "revoked_at",
            "tenant__config_version",
        )
        .first()
    )
    if row is None:
        return None
    return KeyEntry(
        id=row["id"],
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        app_id=row["app_id"],
        scopes=frozenset(row["scopes"] or ()),
        rate_limit=row["rate_limit"],
        identity_header_mode=row["identity_header_mode"],
        enforce_identity=row["enforce_identity"],
        allowed_user_domains=_tuple_or_none(row["allowed_user_domains"]),
        expires_at=_epoch(row["expires_at"]),
        revoked_at=_epoch(row["revoked_at"]),
        allowed_models=_tuple_or_none(row["allowed_models"]),
        config_version=row["tenant__config_version"],
    )


def agent_entry_load(tenant_id: str, agent_id: str) -> AgentEntry | None:
    """One agent of the tenant and the enabled policies that name it, read on its first use.

    Two indexed queries (the agent by primary key, the policies by the link table's agent
    index), both bounded to the tenant. Read after the snapshot it joins, so never older than it:
    the snapshot is dropped on the tenant's next change, and the entry with it.
    """
    row = (
        Agent.objects.for_tenant(tenant_id)
        .filter(pk=agent_id)
        .values("id", "app_id", "status", "deleted_at", "allowed_models", "fingerprint", "owner_email")
        .first()
    )
    if row is None:
        return None
    policy_ids = Policy.agents.through.objects.filter(
        agent_id=agent_id, policy__tenant_id=tenant_id, policy__enabled=True
    ).values_list("policy_id", flat=True)
    return AgentEntry(
        id=row["id"],
        app_id=row["app_id"],
        active=row["status"] == AgentStatus.ACTIVE and row["deleted_at"] is None,
        allowed_models=_tuple_or_none(row["allowed_models"]),
        fingerprint=row["fingerprint"],
        owner_email=row["owner_email"],
        policy_ids=frozenset(policy_ids),
    )


def _guardrail_entry(guardrails) -> GuardrailEntry:
    if guardrails is None:
        return GuardrailEntry()
    return GuardrailEntry(
        # Compiled here, off the hot path: each pattern with the fastest engine that keeps its meaning.
        blocked_patterns=tuple(blocked_pattern_compile(p["name"], p["pattern"]) for p in guardrails.blocked_patterns),
        pii=guardrails.pii,
        max_prompt_chars=guardrails.max_prompt_chars,
    )


def _jwt_revocations_load(tenant_id: str) -> dict[str, JwtRevocations]:
    """The live revocations of the tenant's apps; an expired one is forgotten (SPEC 3.3)."""
    jtis: dict[str, set[str]] = {}
    subjects: dict[str, dict[str, float]] = {}
    rows = (
        JwtRevocation.objects.for_tenant(tenant_id)
        .filter(expires_at__gt=timezone.now())
        .values_list("app_id", "jti", "sub", "created_at")
    )
    for app_id, jti, sub, created_at in rows:
        if jti:
            jtis.setdefault(app_id, set()).add(jti)
        else:
            by_sub = subjects.setdefault(app_id, {})
            by_sub[sub] = max(by_sub.get(sub, 0.0), created_at.timestamp())
    return {
        app_id: JwtRevocations(jtis=frozenset(jtis.get(app_id, ())), subjects=subjects.get(app_id, {}))
        for app_id in {*jtis, *subjects}
    }


def tenant_config_load(tenant_id: str, generation: int) -> TenantConfig | None:
    """Everything the hot path needs of one tenant, in a handful of queries."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    guardrails = {g.app_id: g for g in GuardrailPolicy.objects.filter(tenant_id=tenant_id)}
    revocations = _jwt_revocations_load(tenant_id)
    apps: dict[str, AppEntry] = {}
    default_app_id = None
    for app in App.objects.for_tenant(tenant_id):
        apps[app.id] = AppEntry(
            id=app.id,
            slug=app.slug,
            is_default=app.is_default,
            key_name=app.key_name,
            key_location=app.key_location,
            identity_header_mode=app.identity_header_mode,
            enforce_identity=app.enforce_identity,
            allowed_user_domains=_tuple_or_none(app.allowed_user_domains),
            scope_prefix=app.scope_prefix,
            jwt=app.jwt,
            capture_bodies=app.capture_bodies,
            body_capture_max_bytes=app.body_capture_max_bytes,
            guardrails=_guardrail_entry(guardrails.get(app.id)),
            jwt_revocations=revocations.get(app.id),
        )
        if app.is_default:
            default_app_id = app.id
    providers = {}
    for p in Provider.objects.for_tenant(tenant_id):
        providers[p.id] = ProviderEntry(
            id=p.id,
            kind=p.kind,
            base_url=p.base_url,
            api_key=decrypt_secret(p.api_key_encrypted) if p.api_key_encrypted else "",
            models=tuple(p.models or ()),
            timeout_seconds=p.timeout_seconds,
            extra_headers=p.extra_headers_decrypted(),
            priority=p.priority,
            api_version=p.api_version,
            created_at=p.created_at.timestamp(),
            send_agent_identity=p.send_agent_identity,
        )
    ordered = tuple(sorted(providers.values(), key=lambda p: (-p.priority, p.created_at, p.id)))
    aliases = {
        a.alias: tuple((t["provider_id"], t["model"]) for t in a.targets) for a in Alias.objects.for_tenant(tenant_id)
    }
    # Without the policies' agents: each agent's policies are read with the agent (agent_entry_load).
    # Rows, not model instances: a tenant may have a thousand policies, and this load is what
    # each of its changes costs every process.
    policy_apps: dict[str, set[str]] = {}
    for policy_id, app_id in Policy.apps.through.objects.filter(
        policy__tenant_id=tenant_id, policy__enabled=True
    ).values_list("policy_id", "app_id"):
        policy_apps.setdefault(policy_id, set()).add(app_id)
    policies = [
        PolicyEntry(
            id=pol["id"],
            timezone=pol["timezone"],
            tenant_wide=pol["tenant_wide"],
            app_ids=frozenset(policy_apps.get(pol["id"], ())),
            allowed_models=_tuple_or_none(pol["allowed_models"]),
            allowed_endpoints=_tuple_or_none(pol["allowed_endpoints"]),
            **{field: pol[field] for field in POLICY_LIMIT_FIELDS},
            allowed_hours=pol["allowed_hours"],
        )
        for pol in Policy.objects.for_tenant(tenant_id)
        .filter(enabled=True)
        .values(
            "id",
            "timezone",
            "tenant_wide",
            "allowed_models",
            "allowed_endpoints",
            "allowed_hours",
            *POLICY_LIMIT_FIELDS,
        )
    ]
    prices = tuple(
        (
            p.model_pattern,
            float(p.input_per_million_usd),
            None if p.cached_input_per_million_usd is None else float(p.cached_input_per_million_usd),
            float(p.output_per_million_usd),
        )
        for p in ModelPrice.objects.for_tenant(tenant_id)
    )
    return TenantConfig(
        tenant_id=tenant_id,
        generation=generation,
        rate_limit_fail_mode=tenant.rate_limit_fail_mode,
        budget_fail_mode=tenant.budget_fail_mode,
        apps=apps,
        default_app_id=default_app_id,
        agents={},
        providers=providers,
        providers_ordered=ordered,
        aliases=aliases,
        policies=tuple(policies),
        prices=prices,
        slugs={a.slug: a.id for a in apps.values()},
        config_version=tenant.config_version,
    )


def app_slug_tenant_load(slug: str) -> tuple[str, int] | None:
    """The tenant of the app with this slug and that tenant's ``config_version``, in one query."""
    return App.objects.filter(slug=slug).values_list("tenant_id", "tenant__config_version").first()


def app_ref_tenant_load(ref: str) -> tuple[str, int] | None:
    """As ``app_slug_tenant_load``, for an app named by id or slug (``X-App-Id``)."""
    return App.objects.filter(Q(slug=ref) | Q(pk=ref)).values_list("tenant_id", "tenant__config_version").first()


def tenant_config_version_load(tenant_id: str) -> int | None:
    """The tenant's configuration version as committed now (None: no such tenant)."""
    return Tenant.objects.filter(pk=tenant_id).values_list("config_version", flat=True).first()


def tenant_config_versions_load(tenant_ids: list[str], changed_within: float = 0) -> list[tuple[str, int]]:
    """``(tenant id, config_version)`` of each of these tenants the database has, and with
    ``changed_within`` (seconds) of every tenant whose configuration changed that recently by
    the database's clock (an index range, however many tenants there are), as rows."""
    wanted = Q(pk__in=tenant_ids)
    if changed_within:
        wanted |= Q(config_changed_at__gte=Now() - timedelta(seconds=changed_within))
    return list(Tenant.objects.filter(wanted).values_list("id", "config_version"))
