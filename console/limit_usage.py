"""Budget and rate-limit use: how much of each limit its subjects have used, for the dashboard.

One function per kind of rule, each the only place that rule's use is computed:

- token budgets (``daily_token_budget``, ``monthly_token_budget`` per agent,
  ``user_daily_token_budget`` per end user): tokens recorded in the current calendar period
  of the policy's time zone, the period the proxy counts against (the same
  :func:`proxy.policy_enforcement.period_bounds`);
- per-minute limits (``requests_per_minute`` and ``tokens_per_minute`` per key,
  ``user_requests_per_minute`` per end user, a key's own ``rate_limit``): what was recorded
  in the last 60 seconds.

Figures come from the forensic records, which hold the tokens each answer really used; the
proxy's live counters (Redis) also hold reservations of requests still in flight, so the two
can differ for a moment. ``max_concurrent_requests`` is not shown: records do not say what is
in flight. Each rule lists its most-used subjects first, at most ``TOP`` of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Q, QuerySet, Sum

from apps.models import Policy
from apps.selectors import policy_list
from console.formatting import percent_text
from forensics.models import RequestLog
from forensics.selectors import log_list
from identity.selectors import agent_list
from keys.models import Key
from proxy.policy_enforcement import period_bounds

TOP = 5
MINUTE = timedelta(seconds=60)
# (field, label, subject kind, unit); the order the dashboard lists them in.
BUDGET_RULES = (
    ("daily_token_budget", "Daily tokens per agent", "agent"),
    ("monthly_token_budget", "Monthly tokens per agent", "agent"),
    ("user_daily_token_budget", "Daily tokens per end user", "user"),
)
RATE_RULES = (
    ("requests_per_minute", "Requests per minute per key", "key", "requests"),
    ("tokens_per_minute", "Tokens per minute per key", "key", "tokens"),
    ("user_requests_per_minute", "Requests per minute per end user", "user", "requests"),
)
KEY_RATE_LIMIT = "Key rate limit (requests per minute)"


@dataclass(frozen=True, slots=True)
class LimitUse:
    """One subject's use of one limit."""

    subject_kind: str  # agent | user | key
    subject_id: str
    subject_label: str
    used: int
    limit: int

    @property
    def fraction(self) -> float:
        return self.used / self.limit if self.limit else 0.0

    @property
    def percent(self) -> str:
        return percent_text(self.used, self.limit)

    @property
    def state(self) -> str:
        """``over`` at or past the limit, ``near`` from 80 %, else ``ok``."""
        return "over" if self.fraction >= 1 else "near" if self.fraction >= 0.8 else "ok"


@dataclass(slots=True)
class LimitGroup:
    """One rule of one policy (or a key's own rate limit) and its most-used subjects."""

    policy_id: str | None
    policy_name: str
    rule: str
    label: str
    unit: str
    period: str
    subjects: list[LimitUse] = field(default_factory=list)


def _tokens() -> F:
    return F("prompt_tokens") + F("completion_tokens")


def _reach(policy: Policy) -> Q:
    """The records a policy applies to: its agents' and its apps' (everything when tenant-wide)."""
    if policy.tenant_wide:
        return Q()
    agent_ids = [a.id for a in policy.agents.all()]
    app_ids = [a.id for a in policy.apps.all()]
    return Q(agent_id__in=agent_ids) | Q(app_id__in=app_ids)


def _agents_in_reach(tenant_id: str, policy: Policy) -> dict[str, str]:
    agents = agent_list(tenant_id=tenant_id)
    if not policy.tenant_wide:
        agents = agents.filter(
            Q(pk__in=[a.id for a in policy.agents.all()]) | Q(app_id__in=[a.id for a in policy.apps.all()])
        )
    return dict(agents.order_by("name", "id").values_list("id", "name"))


def _period(policy: Policy, now: datetime, *, monthly: bool) -> tuple[str, datetime, datetime]:
    label, start, end = period_bounds(policy.timezone, now.timestamp(), monthly=monthly)
    return label, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


def _ranked(rows: Iterable[LimitUse]) -> list[LimitUse]:
    return sorted(rows, key=lambda r: (-r.fraction, r.subject_label))[:TOP]


def _records(tenant_id: str, since: datetime, until: datetime) -> QuerySet[RequestLog]:
    return log_list(tenant_id=tenant_id).filter(created_at__gte=since, created_at__lt=until).order_by()


def agent_budget_use(*, tenant_id: str, policy: Policy, limit: int, monthly: bool, now: datetime) -> tuple[str, list]:
    """Tokens each agent in the policy's reach used in the current day (or month) of its time zone."""
    label, since, until = _period(policy, now, monthly=monthly)
    agents = _agents_in_reach(tenant_id, policy)
    used = dict(
        _records(tenant_id, since, until)
        .filter(agent_id__in=list(agents))
        .values("agent_id")
        .annotate(used=Sum(_tokens()))
        .values_list("agent_id", "used")
    )
    rows = (LimitUse("agent", a, name, int(used.get(a) or 0), limit) for a, name in agents.items())
    return f"{label} ({policy.timezone})", _ranked(rows)


def user_budget_use(*, tenant_id: str, policy: Policy, limit: int, now: datetime) -> tuple[str, list]:
    """Tokens each end user in the policy's reach used in the current day of its time zone."""
    label, since, until = _period(policy, now, monthly=False)
    rows = (
        _records(tenant_id, since, until)
        .filter(_reach(policy), user__isnull=False)
        .values("user")
        .annotate(used=Sum(_tokens()))
        .order_by("-used", "user")[:TOP]
    )
    return f"{label} ({policy.timezone})", _ranked(
        LimitUse("user", r["user"], r["user"], int(r["used"] or 0), limit) for r in rows
    )


def _keys_in_reach(tenant_id: str, policy: Policy | None, now: datetime) -> QuerySet[Key]:
    keys = Key.objects.for_tenant(tenant_id).filter(agent__deleted_at=None).exclude(revoked_at__lte=now)
    keys = keys.exclude(expires_at__lte=now)
    if policy is not None and not policy.tenant_wide:
        keys = keys.filter(
            Q(agent_id__in=[a.id for a in policy.agents.all()])
            | Q(agent__app_id__in=[a.id for a in policy.apps.all()])
            | Q(app_id__in=[a.id for a in policy.apps.all()])
        )
    return keys


def _key_label(key: Key) -> str:
    return f"{key.name or key.prefix} ({key.agent.name})"


def key_minute_use(
    *, tenant_id: str, policy: Policy | None, limit: int | None, tokens: bool, now: datetime
) -> list[LimitUse]:
    """Requests (or tokens) each key in reach sent in the last minute; ``limit`` None: each key's own ``rate_limit``."""
    keys = _keys_in_reach(tenant_id, policy, now).select_related("agent")
    if limit is None:
        keys = keys.filter(rate_limit__isnull=False)
    keys = list(keys)
    records = _records(tenant_id, now - MINUTE, now + timedelta(seconds=1)).filter(key_id__in=[k.id for k in keys])
    measure = Sum(_tokens()) if tokens else Count("id")
    used = dict(records.values("key_id").annotate(used=measure).values_list("key_id", "used"))
    return _ranked(
        LimitUse("key", k.id, _key_label(k), int(used.get(k.id) or 0), limit if limit is not None else k.rate_limit)
        for k in keys
    )


def user_minute_use(*, tenant_id: str, policy: Policy, limit: int, now: datetime) -> list[LimitUse]:
    """Requests each end user in the policy's reach sent in the last minute."""
    rows = (
        _records(tenant_id, now - MINUTE, now + timedelta(seconds=1))
        .filter(_reach(policy), user__isnull=False)
        .values("user")
        .annotate(used=Count("id"))
        .order_by("-used", "user")[:TOP]
    )
    return _ranked(LimitUse("user", r["user"], r["user"], r["used"], limit) for r in rows)


def limit_use_list(*, tenant_id: str, now: datetime) -> list[LimitGroup]:
    """Every budget and per-minute limit of the tenant's enabled policies, and the keys' own
    rate limits, each with its most-used subjects (a rule nobody used yet lists its agents or
    keys at zero; a per-user rule lists only the users seen in its period)."""
    groups: list[LimitGroup] = []
    for policy in policy_list(tenant_id=tenant_id).filter(enabled=True).order_by("name", "id"):
        for rule, label, _kind in BUDGET_RULES:
            limit = getattr(policy, rule)
            if limit is None:
                continue
            if rule == "user_daily_token_budget":
                period, rows = user_budget_use(tenant_id=tenant_id, policy=policy, limit=limit, now=now)
            else:
                period, rows = agent_budget_use(
                    tenant_id=tenant_id, policy=policy, limit=limit, monthly=rule == "monthly_token_budget", now=now
                )
            groups.append(LimitGroup(policy.id, policy.name, rule, label, "tokens", period, rows))
        for rule, label, kind, unit in RATE_RULES:
            limit = getattr(policy, rule)
            if limit is None:
                continue
            if kind == "key":
                rows = key_minute_use(tenant_id=tenant_id, policy=policy, limit=limit, tokens=unit == "tokens", now=now)
            else:
                rows = user_minute_use(tenant_id=tenant_id, policy=policy, limit=limit, now=now)
            groups.append(LimitGroup(policy.id, policy.name, rule, label, unit, "last minute", rows))
    own = key_minute_use(tenant_id=tenant_id, policy=None, limit=None, tokens=False, now=now)
    if own:
        groups.append(
            LimitGroup(None, "(each key's own)", "rate_limit", KEY_RATE_LIMIT, "requests", "last minute", own)
        )
    return groups
