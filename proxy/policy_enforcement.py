"""Enforcing the effective policy before anything goes upstream (SPEC 3.4), and settling
counters with the real usage once the answer is known."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from core.errors import GatewayError, forbidden, invalid_request
from proxy.access import patterns_match_model
from proxy.limit_store import Check, LimitStoreUnavailable, Settlement, retry_after_seconds
from proxy.policy_resolution import Budget, EffectivePolicy
from proxy.request_context import RequestContext

logger = logging.getLogger(__name__)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LEASE_TTL_MS = 10 * 60 * 1000
# Completion tokens reserved for a request that names no max_tokens (docs/policies.md).
DEFAULT_COMPLETION_ESTIMATE = 256


# The gateway's clock: a name looked up at each call, so that tests can put a movable clock in
# its place, also where this module is compiled (scripts/compile_hot.py).
clock: Callable[[], float] = time.time


def endpoint_check(policy: EffectivePolicy, endpoint: str) -> None:
    if policy.allowed_endpoints is not None and endpoint not in policy.allowed_endpoints:
        raise forbidden("endpoint_not_allowed", f"the endpoint {endpoint!r} is not allowed by policy")


def policy_allows_model(policy: EffectivePolicy, model: str) -> bool:
    """Whether every model list that binds the request (key, agent, policies) lets ``model`` in."""
    return all(patterns_match_model(patterns, model) for patterns in policy.model_lists)


def model_policy_check(policy: EffectivePolicy, model: str, agent_id: str | None) -> None:
    if not policy_allows_model(policy, model):
        raise forbidden("model_not_allowed", f"model {model[:200]!r} is not allowed for agent {agent_id}")


def within_hours(window: dict[str, Any], now: float) -> bool:
    """Start inclusive, end exclusive, in the window's own time zone; an end before the start
    wraps past midnight and belongs to the day it started on."""
    local = datetime.fromtimestamp(now, zoneinfo.ZoneInfo(window.get("timezone", "UTC")))
    hhmm = local.strftime("%H:%M")
    start, end = window["start"], window["end"]
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if start < end:
        return today in window["days"] and start <= hhmm < end
    if hhmm >= start:
        return today in window["days"]
    return hhmm < end and yesterday in window["days"]


def hours_check(policy: EffectivePolicy) -> None:
    now = clock()
    for window in policy.allowed_hours:
        if not within_hours(window, now):
            raise forbidden("outside_allowed_hours", "requests are not allowed at this time")


def requested_max_tokens(body: dict[str, Any]) -> int | None:
    values = [value for n in ("max_tokens", "max_completion_tokens") if isinstance(value := body.get(n), int)]
    return max(values) if values else None


def max_tokens_check(policy: EffectivePolicy, requested: int | None) -> None:
    """``requested``: the completion the request asks for at most (:func:`requested_max_tokens`
    on chat, the dialect's own field on the other formats)."""
    cap = policy.max_tokens_per_request
    if cap is not None and requested is not None and requested > cap:
        raise invalid_request(f"max_tokens {requested} exceeds this policy's cap of {cap}", "max_tokens_exceeded")


def token_estimate(policy: EffectivePolicy, prompt_chars: int, requested: int | None, *, completes: bool) -> int:
    """Prompt characters / 4, plus the completion the request may ask for (``requested``, else
    a default); none for a request that ``completes`` nothing (embeddings)."""
    completion = requested
    if completion is None:
        completion = min(DEFAULT_COMPLETION_ESTIMATE, policy.max_tokens_per_request or DEFAULT_COMPLETION_ESTIMATE)
    if not completes:
        completion = 0
    return math.ceil(prompt_chars / 4) + completion


# (time zone, monthly) → (label, period start, period end), both as Unix seconds.
_periods: dict[tuple[str, bool], tuple[str, float, float]] = {}


def _period(budget: Budget, now: float, *, monthly: bool) -> tuple[str, int]:
    """The period's label and the milliseconds until it ends, in the budget's time zone.

    Remembered per time zone until the period ends: building zone-aware datetimes on every
    request showed in the event loop's profile (docs/performance.md → Decisions)."""
    cached = _periods.get((budget.timezone, monthly))
    if cached is None or not cached[1] <= now < cached[2]:
        cached = _periods[(budget.timezone, monthly)] = period_bounds(budget.timezone, now, monthly=monthly)
    label, _, end = cached
    return label, max(1000, int((end - now) * 1000))


def period_bounds(timezone: str, now: float, *, monthly: bool) -> tuple[str, float, float]:
    """The budget period holding ``now``: its label, start and end (Unix seconds), in ``timezone``.

    The console's budget bars (console/limit_usage.py) count the same period."""
    local = datetime.fromtimestamp(now, zoneinfo.ZoneInfo(timezone))
    if monthly:
        label = local.strftime("%Y-%m")
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        end = local.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        label = local.strftime("%Y-%m-%d")
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return label, start.timestamp(), end.timestamp()


@functools.lru_cache(maxsize=4096)
def _user_tag(user: str) -> str:
    """Remembered: a request with a user and per-user limits asks twice, and users repeat."""
    return hashlib.sha256(user.encode()).hexdigest()[:24]


def limit_checks(ctx: RequestContext, policy: EffectivePolicy, *, estimate: int, now: float) -> list[Check]:
    """Redis keys carry the tenant as hash tag, so a request's keys share one cluster slot."""
    tag = f"aid:{{{ctx.tenant_id}}}"
    checks: list[Check] = []
    if ctx.key_id is not None:
        if policy.requests_per_minute is not None:
            checks.append(Check("window", f"{tag}:rpm:{ctx.key_id}", policy.requests_per_minute, "requests_per_minute"))
        if policy.max_concurrent_requests is not None:
            checks.append(
                Check("lease", f"{tag}:inflight:{ctx.key_id}", policy.max_concurrent_requests, "concurrency",
                      ttl_ms=LEASE_TTL_MS)
            )  # fmt: skip
        if policy.tokens_per_minute is not None and estimate:
            checks.append(Check("tokens", f"{tag}:tpm:{ctx.key_id}", policy.tokens_per_minute, "tokens_per_minute",
                                cost=estimate))  # fmt: skip
    if ctx.user is not None and policy.user_requests_per_minute is not None:
        checks.append(
            Check(
                "window",
                f"{tag}:urpm:{_user_tag(ctx.user)}",
                policy.user_requests_per_minute,
                "user_requests_per_minute",
            )
        )
    budgets = [
        (policy.daily_budget, False, f"agent:{ctx.agent_id}", "daily_tokens", ctx.agent_id),
        (policy.monthly_budget, True, f"agent:{ctx.agent_id}", "monthly_tokens", ctx.agent_id),
        (policy.user_daily_budget, False, f"user:{_user_tag(ctx.user or '')}", "user_daily_tokens", ctx.user),
    ]
    for budget, monthly, who, reason, subject in budgets:
        if budget is None or subject is None:
            continue
        label, remaining_ms = _period(budget, now, monthly=monthly)
        checks.append(
            Check("budget", f"{tag}:budget:{who}:{label}", budget.tokens, reason, cost=estimate,
                  ttl_ms=remaining_ms + 86_400_000, retry_ms=remaining_ms)
        )  # fmt: skip
    return checks


def refusal_for(check: Check, retry_ms: int) -> GatewayError:
    code = "budget_exceeded" if check.kind == "budget" else "rate_limited"
    messages = {
        "requests_per_minute": "too many requests per minute for this key",
        "tokens_per_minute": "too many tokens per minute for this key",
        "concurrency": "too many requests in flight for this key",
        "user_requests_per_minute": "too many requests per minute for this user",
        "daily_tokens": "the agent's daily token budget is used up",
        "monthly_tokens": "the agent's monthly token budget is used up",
        "user_daily_tokens": "the user's daily token budget is used up",
    }
    return GatewayError(
        429, code, messages.get(check.reason, "limit reached"), check.reason,
        headers={"Retry-After": str(retry_after_seconds(retry_ms))},
    )  # fmt: skip


def _request_limit_headers(checks: list[Check], usage: list[tuple[int, int]], now_ms: int) -> dict[str, str]:
    """``X-RateLimit-*-Requests`` of the tightest request window, counting this request."""
    tightest: tuple[int, Check, int] | None = None
    for check, (used, oldest) in zip(checks, usage, strict=False):
        if check.kind != "window":
            continue
        remaining = max(0, check.limit - used - 1)
        if tightest is None or remaining < tightest[0]:
            tightest = (remaining, check, oldest)
    if tightest is None:
        return {}
    remaining, check, oldest = tightest
    reset_ms = max(0, oldest + check.window_ms - now_ms)
    return {
        "X-RateLimit-Limit-Requests": str(check.limit),
        "X-RateLimit-Remaining-Requests": str(remaining),
        "X-RateLimit-Reset-Requests": str(math.ceil(reset_ms / 1000)),
    }


async def limits_admit(
    ctx: RequestContext, policy: EffectivePolicy, store, *, estimate: int, fail_modes: tuple[str, str]
) -> None:
    """Take every counter of the request at once, or refuse with the SPEC's 429."""
    now = clock()
    checks = limit_checks(ctx, policy, estimate=estimate, now=now)
    if not checks:
        return
    now_ms = int(now * 1000)
    try:
        admission = await store.admit(checks, member=ctx.id, now_ms=now_ms)
    except LimitStoreUnavailable:
        _fail_mode_apply(ctx, checks, fail_modes)
        return
    if not admission.admitted:
        if admission.failed.kind == "window":
            ctx.response_headers.update(
                {
                    "X-RateLimit-Limit-Requests": str(admission.failed.limit),
                    "X-RateLimit-Remaining-Requests": "0",
                    "X-RateLimit-Reset-Requests": str(retry_after_seconds(admission.retry_ms)),
                }
            )
        raise refusal_for(admission.failed, admission.retry_ms)
    ctx.response_headers.update(_request_limit_headers(checks, admission.usage, now_ms))
    settlements = [Settlement(c.kind, c.key, estimate=c.cost, at_ms=now_ms) for c in checks if c.kind != "window"]
    if not settlements:
        return

    async def settle(done: RequestContext) -> None:
        actual = done.prompt_tokens + done.completion_tokens
        for s in settlements:
            s.actual = actual
        try:
            await store.settle(settlements, member=done.id)
        except LimitStoreUnavailable:
            logger.warning("counters of request %s could not be settled (store unavailable)", done.id)

    ctx.finalizers.append(settle)


def _fail_mode_apply(ctx: RequestContext, checks: list[Check], fail_modes: tuple[str, str]) -> None:
    """Redis down: budgets and rate limits each follow the tenant's fail mode, recorded."""
    rate_mode, budget_mode = fail_modes
    kinds = {("budgets" if c.kind == "budget" else "rate_limits") for c in checks}
    if "budgets" in kinds and budget_mode == "closed":
        raise GatewayError(429, "budget_exceeded", "budgets cannot be checked right now", "limits_unavailable",
                           headers={"Retry-After": "1"})  # fmt: skip
    if "rate_limits" in kinds and rate_mode == "closed":
        raise GatewayError(429, "rate_limited", "rate limits cannot be checked right now", "limits_unavailable",
                           headers={"Retry-After": "1"})  # fmt: skip
    ctx.fail_open.extend(sorted(kinds))
