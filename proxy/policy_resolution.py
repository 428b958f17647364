"""Which limits apply to a request (SPEC 3.4): every enabled policy in reach, the agent's
``allowed_models``, the key's ``allowed_models`` (SPEC 2) and the key's ``rate_limit``; the
strictest value of each field wins and allowed lists intersect. Compiled once per (app, agent,
key limit, key models) and generation."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.config_snapshot import AgentEntry, KeyEntry, PolicyEntry, TenantConfig


@dataclass(frozen=True, slots=True)
class Budget:
    tokens: int
    timezone: str


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    policy_ids: tuple[str, ...] = ()
    # Every tuple must be matched (lists intersect): the key's, the agent's and each policy's.
    model_lists: tuple[tuple[str, ...], ...] = ()
    allowed_endpoints: frozenset[str] | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_concurrent_requests: int | None = None
    user_requests_per_minute: int | None = None
    daily_budget: Budget | None = None
    monthly_budget: Budget | None = None
    user_daily_budget: Budget | None = None
    max_tokens_per_request: int | None = None
    allowed_hours: tuple[dict, ...] = ()


def _min(current: int | None, value: int | None) -> int | None:
    if value is None:
        return current
    return value if current is None else min(current, value)


def _min_budget(current: Budget | None, value: int | None, timezone: str) -> Budget | None:
    if value is None:
        return current
    return Budget(value, timezone) if current is None or value < current.tokens else current


def policy_merge(
    policies: list[PolicyEntry],
    *,
    agent_models: tuple[str, ...] | None,
    key_rpm: int | None,
    key_models: tuple[str, ...] | None = None,
) -> EffectivePolicy:
    # A key's list is one more list to pass, so it can only narrow what the others allow.
    model_lists = [m for m in (key_models, agent_models) if m is not None]
    endpoints: frozenset[str] | None = None
    rpm = key_rpm
    tpm = concurrency = user_rpm = max_tokens = None
    daily = monthly = user_daily = None
    hours = []
    for p in policies:
        if p.allowed_models is not None:
            model_lists.append(p.allowed_models)
        if p.allowed_endpoints is not None:
            allowed = frozenset(p.allowed_endpoints)
            endpoints = allowed if endpoints is None else endpoints & allowed
        rpm = _min(rpm, p.requests_per_minute)
        tpm = _min(tpm, p.tokens_per_minute)
        concurrency = _min(concurrency, p.max_concurrent_requests)
        user_rpm = _min(user_rpm, p.user_requests_per_minute)
        max_tokens = _min(max_tokens, p.max_tokens_per_request)
        daily = _min_budget(daily, p.daily_token_budget, p.timezone)
        monthly = _min_budget(monthly, p.monthly_token_budget, p.timezone)
        user_daily = _min_budget(user_daily, p.user_daily_token_budget, p.timezone)
        if p.allowed_hours is not None:
            hours.append(p.allowed_hours)
    return EffectivePolicy(
        policy_ids=tuple(p.id for p in policies),
        model_lists=tuple(model_lists),
        allowed_endpoints=endpoints,
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        max_concurrent_requests=concurrency,
        user_requests_per_minute=user_rpm,
        daily_budget=daily,
        monthly_budget=monthly,
        user_daily_budget=user_daily,
        max_tokens_per_request=max_tokens,
        allowed_hours=tuple(hours),
    )


def effective_policy(
    config: TenantConfig, *, app_id: str, agent: AgentEntry | None, key: KeyEntry | None
) -> EffectivePolicy:
    """The compiled policy of a request, cached on the tenant's configuration snapshot.

    ``agent``: the request's agent as authentication read it. The compiled result is kept only
    when that entry is the snapshot's own: an entry read with an older snapshot (the request's
    snapshot was replaced since by a confirmation) must not decide for the newer one's lifetime.
    """
    key_rpm = key.rate_limit if key is not None else None
    key_models = key.allowed_models if key is not None else None
    agent_id = agent.id if agent is not None else None
    token = (app_id, agent_id, key_rpm, key_models)
    compiled = config.compiled_policies.get(token)
    if compiled is None:
        applying = [p for p in config.policies if p.applies_to(app_id=app_id, agent=agent)]
        compiled = policy_merge(
            applying, agent_models=agent.allowed_models if agent else None, key_rpm=key_rpm, key_models=key_models
        )
        if agent is None or config.agents.get(agent.id) is agent:
            config.compiled_policies[token] = compiled
    return compiled
