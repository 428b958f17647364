"""Immutable in-memory copies of a tenant's configuration, as the hot path reads it.

Built from the database off the hot path (:mod:`proxy.config_loading`) and then only read;
this module imports no model, so the stages that read snapshots load no ORM code. Times are
epoch seconds so that checks need no datetime arithmetic.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from proxy.guardrail_patterns import BlockedPattern


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: str
    tenant_id: str
    agent_id: str
    app_id: str | None
    scopes: frozenset[str]
    rate_limit: int | None
    identity_header_mode: bool | None
    enforce_identity: bool | None
    allowed_user_domains: tuple[str, ...] | None
    expires_at: float | None
    revoked_at: float | None
    # Narrows the agent's list and its policies (SPEC 2); None inherits.
    allowed_models: tuple[str, ...] | None = None
    # The tenant's configuration version when the key was read: a snapshot at least this new
    # holds the key's agent and app.
    config_version: int = 0

    def state(self, now: float) -> str:
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class AgentEntry:
    id: str
    app_id: str | None
    active: bool
    allowed_models: tuple[str, ...] | None
    # Claims of X-Agent-Identity (SPEC 3.10).
    fingerprint: str = ""
    owner_email: str = ""
    # The enabled policies that name this agent: read with the agent, so that a snapshot holds
    # no policy's list of agents (a tenant's 1,000 policies may name 100,000 of them).
    policy_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class GuardrailEntry:
    blocked_patterns: tuple[BlockedPattern, ...] = ()
    pii: str = "off"
    max_prompt_chars: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.blocked_patterns) or self.pii != "off" or self.max_prompt_chars is not None


@dataclass(frozen=True, slots=True)
class JwtRevocations:
    """An app's live JWT revocations (SPEC 3.3)."""

    jtis: frozenset[str]
    # Subject → the latest revocation's created_at: tokens issued (iat) at or before it are refused.
    subjects: dict[str, float]


@dataclass(frozen=True, slots=True)
class AppEntry:
    id: str
    slug: str
    is_default: bool
    key_name: str
    key_location: str
    identity_header_mode: bool
    enforce_identity: bool
    allowed_user_domains: tuple[str, ...] | None
    scope_prefix: str
    jwt: dict[str, Any] | None
    capture_bodies: bool
    body_capture_max_bytes: int
    guardrails: GuardrailEntry
    # None when the app has none: the JWT path pays one attribute read for the check.
    jwt_revocations: JwtRevocations | None = None
    # Computed from ``jwt`` on construction, so it can never disagree with it: the key of the
    # JWT verifier's caches (proxy.jwt_verification), which must not outlive or cross settings.
    jwt_digest: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "jwt_digest", jwt_settings_digest(self.jwt))


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: str
    kind: str
    base_url: str
    api_key: str
    models: tuple[str, ...]
    timeout_seconds: float
    extra_headers: dict[str, str]
    priority: int
    api_version: str
    created_at: float
    send_agent_identity: bool = True


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    id: str
    timezone: str
    tenant_wide: bool
    app_ids: frozenset[str]
    allowed_models: tuple[str, ...] | None
    allowed_endpoints: tuple[str, ...] | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    max_concurrent_requests: int | None
    user_requests_per_minute: int | None
    daily_token_budget: int | None
    monthly_token_budget: int | None
    user_daily_token_budget: int | None
    max_tokens_per_request: int | None
    allowed_hours: dict[str, Any] | None

    def applies_to(self, *, app_id: str | None, agent: AgentEntry | None) -> bool:
        return self.tenant_wide or (app_id in self.app_ids) or (agent is not None and self.id in agent.policy_ids)


@dataclass(frozen=True, slots=True)
class TenantConfig:
    tenant_id: str
    generation: int
    rate_limit_fail_mode: str
    budget_fail_mode: str
    apps: dict[str, AppEntry]
    default_app_id: str | None
    # Filled lazily, one agent on its first use (ConfigCache.agent): a snapshot's load and size
    # do not grow with the tenant's agents. Dropped with the snapshot on any change.
    agents: dict[str, AgentEntry]
    providers: dict[str, ProviderEntry]
    # Providers by precedence: highest priority first, then oldest.
    providers_ordered: tuple[ProviderEntry, ...]
    aliases: dict[str, tuple[tuple[str, str], ...]]
    policies: tuple[PolicyEntry, ...]
    # The tenant's price table (providers.pricing.Override rows): it wins over list prices.
    prices: tuple[tuple[str, float, float | None, float], ...]
    slugs: dict[str, str] = field(default_factory=dict)
    config_version: int = 0
    # Filled lazily by proxy.policy_resolution; dropped with the snapshot on any change.
    compiled_policies: dict[tuple, Any] = field(default_factory=dict)
    # (provider kind, model name) → its price, None when unpriced; filled lazily by
    # proxy.pipeline._cost, so a model is matched once per snapshot.
    model_prices: dict[tuple[str | None, str], Any] = field(default_factory=dict)
    # Names routed by family alone that the database confirmed no alias or route takes over
    # (proxy.pipeline._route): the first such use of a name on a snapshot checks once.
    family_confirmed: set[str] = field(default_factory=set)


def jwt_settings_digest(settings: dict[str, Any] | None) -> str | None:
    """A digest of an app's verifier settings: what the verifier's caches are keyed by.

    Content, never ``id()``: CPython reuses the address of a freed object, so a settings
    object rebuilt after another app's was dropped could meet that app's cached keys. The
    standard library's JSON (not orjson) because a stored JWKS document may hold any JSON,
    integers beyond 64 bits included, and a snapshot must always build.
    """
    if settings is None:
        return None
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
