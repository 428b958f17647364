"""The dashboard: a tenant's traffic over a period, drawn as server-rendered SVG.

Every figure comes from :func:`analytics.selectors.usage_summary` (exact at the moment of
the call) except the refusal breakdown and the conversation counts, which are console
selectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.template.response import TemplateResponse
from django.utils import timezone

from analytics.buckets import day_floor, hour_floor
from analytics.selectors import usage_summary
from analytics.usage_totals import UsageTotals
from console.access import ConsoleRequest, console_context, console_page
from console.charts import Line, Series, bar_list, column_chart, line_chart
from console.formatting import ms_text, usd_text
from console.limit_usage import limit_use_list
from console.selectors import agent_names, conversation_counts, refusal_breakdown

TOP = 8


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    label: str
    buckets: int
    group_by: str  # hour | day

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.group_by == "hour" else timedelta(days=1)

    def window(self, now: datetime) -> tuple[datetime, datetime, list[datetime]]:
        """Whole UTC buckets ending with the current one: ``[since, until)`` and each bucket's start."""
        current = hour_floor(now) if self.group_by == "hour" else day_floor(now)
        starts = [current - self.step * (self.buckets - 1 - i) for i in range(self.buckets)]
        return starts[0], current + self.step, starts

    def key_of(self, start: datetime) -> str:
        """The group key usage_summary gives the bucket (SPEC 5.8's day and hour keys)."""
        return start.strftime("%Y-%m-%dT%H:00:00Z" if self.group_by == "hour" else "%Y-%m-%d")

    def label_of(self, start: datetime) -> str:
        return start.strftime("%H:00" if self.group_by == "hour" else "%d %b")


PERIODS = {
    "24h": Period("24h", "Last 24 hours", 24, "hour"),
    "7d": Period("7d", "Last 7 days", 7, "day"),
    "30d": Period("30d", "Last 30 days", 30, "day"),
}
DEFAULT_PERIOD = "24h"


def period_of(raw: str | None) -> Period:
    return PERIODS.get(raw or "", PERIODS[DEFAULT_PERIOD])


def _top(tenant_id: str, since: datetime, until: datetime, group_by: str) -> list[tuple[str | None, UsageTotals]]:
    # Only the top few are shown, so a tenant with more than 10,000 users still gets its page.
    summary = usage_summary(tenant_id=tenant_id, since=since, until=until, group_by=group_by, max_groups=None)
    return [(key, totals) for _, key, totals in summary.groups[:TOP]]


@console_page
def dashboard_view(request: ConsoleRequest) -> TemplateResponse:
    tenant_id = request.console.tenant_id
    period = period_of(request.GET.get("period"))
    now = timezone.now()
    since, until, starts = period.window(now)
    over_time = usage_summary(tenant_id=tenant_id, since=since, until=until, group_by=period.group_by)
    by_key = {key: totals for _, key, totals in over_time.groups}
    buckets = [by_key.get(period.key_of(start), UsageTotals()) for start in starts]
    labels = [period.label_of(start) for start in starts]
    totals = over_time.totals

    requests_chart = column_chart(
        name="requests",
        labels=labels,
        series=[
            Series("answered", "bar-ok", [b.requests - b.errors for b in buckets]),
            Series("errors and refusals", "bar-error", [b.errors for b in buckets]),
        ],
    )
    tokens_chart = column_chart(
        name="tokens",
        labels=labels,
        series=[
            Series("prompt tokens", "bar-prompt", [b.prompt_tokens for b in buckets]),
            Series("completion tokens", "bar-completion", [b.completion_tokens for b in buckets]),
        ],
    )
    cost_chart = column_chart(
        name="cost", labels=labels, series=[Series("cost (USD)", "bar-cost", [float(b.cost_usd) for b in buckets])],
        value_text=usd_text,
    )  # fmt: skip
    # Percentiles per bucket, from the same usage answer (exact histograms, never a mean of them).
    bodies = [b.body() for b in buckets]
    latency_chart = line_chart(
        name="latency",
        labels=labels,
        lines=[
            Line("p50", "line-p50", [b["latency_p50_ms"] for b in bodies]),
            Line("p95", "line-p95", [b["latency_p95_ms"] for b in bodies]),
        ],
        value_text=ms_text,
    )

    refusals = refusal_breakdown(tenant_id=tenant_id, since=since, until=until)
    refusal_chart = bar_list(
        name="refusals",
        items=[(f"{r['error_reason'] or r['error_code']} ({r['status_code']})", r["count"]) for r in refusals],
        css_class="bar-error",
    )

    top_users = _top(tenant_id, since, until, "user")
    conversations = conversation_counts(
        tenant_id=tenant_id, since=since, until=until, users=[user for user, _ in top_users if user]
    )
    top_models = _top(tenant_id, since, until, "model")
    top_agents = _top(tenant_id, since, until, "agent")
    # Which client dialects (chat, messages, responses…) the traffic uses.
    by_endpoint = _top(tenant_id, since, until, "endpoint")
    names = agent_names(tenant_id=tenant_id, agent_ids=[agent for agent, _ in top_agents])

    def labelled(rows: list[tuple[str | None, UsageTotals]], name_of: dict[str, str] | None = None) -> list:
        return [(name_of.get(key, key) if name_of and key else key or "(none)", t.requests) for key, t in rows]

    context: dict[str, Any] = {
        "title": "Dashboard",
        "console_section": "dashboard",
        "period": period,
        "periods": PERIODS.values(),
        "since": since,
        "until": until,
        "totals": totals.body(),
        "latency_p99_ms": totals.latency.percentile(0.99),
        "cost_text": "unpriced" if totals.cost_known is None else usd_text(totals.cost_known),
        "requests_chart": requests_chart,
        "tokens_chart": tokens_chart,
        "cost_chart": cost_chart,
        "latency_chart": latency_chart,
        "limit_groups": limit_use_list(tenant_id=tenant_id, now=now),
        "refusal_chart": refusal_chart,
        "refusals": refusals,
        "users_chart": bar_list(name="top-users", items=labelled(top_users)),
        "models_chart": bar_list(name="top-models", items=labelled(top_models), css_class="bar-model"),
        "agents_chart": bar_list(name="top-agents", items=labelled(top_agents, names), css_class="bar-agent"),
        "endpoints_chart": bar_list(name="endpoints", items=labelled(by_endpoint)),
        "top_users": [
            {"user": key, "totals": t.body(), "conversations": conversations.get(key or "", 0)} for key, t in top_users
        ],
        "top_models": [{"model": key, "totals": t.body()} for key, t in top_models],
        "top_agents": [{"agent_id": key, "name": names.get(key or ""), "totals": t.body()} for key, t in top_agents],
    }
    return TemplateResponse(request, "console/dashboard.html", console_context(request, **context))
