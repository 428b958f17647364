"""Reads of the analytics app, always within one tenant: usage, end users, conversations, reports.

Usage is exact at any moment: rollup rows answer the whole hours and days of a window, and
the records not yet folded into them (the tail), plus the window's partial hours at either
edge, are read from the forensic record itself. See :func:`usage_summary` for why the two
never overlap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from analytics.buckets import Segment, bucket_of, window_segments
from analytics.models import Granularity, Report, UsageRollup, UsageRollupState
from analytics.services import RECORD_FIELDS, record_fold, rollup_fold
from analytics.usage_totals import UsageTotals
from core.errors import invalid_request
from forensics.models import RequestLog

GROUP_BY = ("day", "hour", "model", "user", "app", "agent")
TIME_GROUPS = ("day", "hour")
# Which rollup column and which record column each group reads.
ROW_COLUMN = {"model": "model", "user": "user", "app": "app_id", "agent": "agent_id"}
RECORD_COLUMN = {"model": "model_requested", "user": "user", "app": "app_id", "agent": "agent_id"}


def _require_tenant(tenant_id: str) -> None:
    if not tenant_id:
        raise ValueError("a tenant is required")


def _hour_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


def _group_key(group_by: str | None, moment: datetime, dimension: str | None) -> str | None:
    if group_by == "day":
        return moment.strftime("%Y-%m-%d")
    if group_by == "hour":
        return _hour_text(moment)
    return dimension or None


@dataclass(frozen=True, slots=True)
class UsageSummary:
    since: datetime
    until: datetime
    totals: UsageTotals
    groups: list[tuple[str, str | None, UsageTotals]]  # (group_by, key value, totals)


def usage_summary(
    *, tenant_id: str, since: datetime, until: datetime, group_by: str | None = None, agent_id: str | None = None
) -> UsageSummary:
    """Usage of ``[since, until)``, exact at the moment of the call.

    Why rows and tail never overlap: every row of a bucket holds exactly the bucket's
    records with ``seq <= through_seq`` of that bucket, and a rollup run recomputes every
    bucket that gained records before it moves the tenant's watermark. So, with the
    watermark ``W`` read *first*, every record with ``seq <= W`` is in the rows read after;
    a record with a larger ``seq`` (or none yet) is in them exactly when its bucket's rows
    say ``through_seq >= seq``. Records never change ``seq``, so no lock is needed.
    """
    _require_tenant(tenant_id)
    if group_by is not None and group_by not in GROUP_BY:
        raise invalid_request(f"group_by: must be one of {', '.join(GROUP_BY)}", "invalid_group_by")
    if since >= until:
        raise invalid_request("until: must be after since", "invalid_window")
    watermark = UsageRollupState.objects.filter(tenant_id=tenant_id).values_list("through_seq", flat=True).first()
    watermark = watermark or 0
    segments = window_segments(since, until, finest=Granularity.HOUR if group_by == "hour" else Granularity.DAY)
    groups: dict[str | None, UsageTotals] = defaultdict(UsageTotals)
    records = RequestLog.objects.filter(tenant_id=tenant_id)
    rows = UsageRollup.objects.filter(tenant_id=tenant_id)
    if agent_id is not None:
        records, rows = records.filter(agent_id=agent_id), rows.filter(agent_id=agent_id)
    record_fields = ("created_at", "seq", *RECORD_FIELDS)
    dimension_index = RECORD_FIELDS.index(RECORD_COLUMN[group_by]) + 2 if group_by in RECORD_COLUMN else None

    def fold_record(values: tuple) -> None:
        dimension = values[dimension_index] if dimension_index is not None else None
        record_fold(groups[_group_key(group_by, values[0], dimension)], values[2:])

    for segment in segments:
        window = records.filter(created_at__gte=segment.start, created_at__lt=segment.end)
        if segment.granularity is None:
            for values in window.values_list(*record_fields).iterator(chunk_size=5000):
                fold_record(values)
            continue
        through = _rows_fold(rows, segment, group_by, groups)
        tail = window.filter(Q(seq__isnull=True) | Q(seq__gt=watermark)).values_list(*record_fields)
        for values in tail.iterator(chunk_size=5000):
            seq = values[1]
            if seq is None or seq > through.get(bucket_of(values[0], segment.granularity), 0):
                fold_record(values)
    totals = UsageTotals()
    for group in groups.values():
        totals.merge(group)
    ordered = _groups_ordered(group_by, groups) if group_by else []
    return UsageSummary(since=since, until=until, totals=totals, groups=[(group_by, k, t) for k, t in ordered])


def _rows_fold(
    rows: QuerySet[UsageRollup], segment: Segment, group_by: str | None, groups: dict[str | None, UsageTotals]
) -> dict[datetime, int]:
    """Fold the segment's rollup rows into ``groups``; returns each bucket's ``through_seq``."""
    through: dict[datetime, int] = {}
    selected = rows.filter(
        granularity=segment.granularity, bucket_start__gte=segment.start, bucket_start__lt=segment.end
    ).values(
        "bucket_start", "through_seq", "requests", "errors", "errors_by_code", "prompt_tokens", "completion_tokens",
        "cost_usd", "latency_histogram", *ROW_COLUMN.values(),
    )  # fmt: skip
    for row in selected.iterator(chunk_size=2000):
        through[row["bucket_start"]] = row["through_seq"]
        dimension = row[ROW_COLUMN[group_by]] if group_by in ROW_COLUMN else None
        rollup_fold(groups[_group_key(group_by, row["bucket_start"], dimension)], row)
    return through


def _groups_ordered(group_by: str, groups: dict[str | None, UsageTotals]) -> list[tuple[str | None, UsageTotals]]:
    if group_by in TIME_GROUPS:
        return sorted(groups.items(), key=lambda item: item[0] or "")
    # Busiest first; ties by key, with "none" (no user, no app…) last.
    return sorted(groups.items(), key=lambda item: (-item[1].requests, item[0] is None, item[0] or ""))


# --- end users and their conversations ---


def _records_in(
    *,
    tenant_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    app_id: str | None = None,
    agent_id: str | None = None,
) -> QuerySet[RequestLog]:
    _require_tenant(tenant_id)
    records = RequestLog.objects.filter(tenant_id=tenant_id)
    if since is not None:
        records = records.filter(created_at__gte=since)
    if until is not None:
        records = records.filter(created_at__lt=until)
    if app_id:
        records = records.filter(app_id=app_id)
    if agent_id:
        records = records.filter(agent_id=agent_id)
    return records


TOTAL_ANNOTATIONS = {
    "requests": Count("id"),
    "errors": Count("id", filter=Q(status_code__gte=400)),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "cost_usd": Sum("cost_usd"),
    "first_seen": Min("created_at"),
    "last_seen": Max("created_at"),
}


def _aggregate_page(
    grouped: QuerySet, *, column: str, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """One page of groups, most recently active first; ``after`` is the last group's key."""
    if after:
        anchor = grouped.filter(**{column: after}).order_by().values_list("last_seen", flat=True)[:1]
        anchor = next(iter(anchor), None)
        if anchor is None:
            raise invalid_request("after: names no object of this list", "invalid_cursor")
        grouped = grouped.filter(Q(last_seen__lt=anchor) | Q(last_seen=anchor, **{f"{column}__gt": after}))
    items = list(grouped.order_by("-last_seen", column)[: limit + 1])
    return items[:limit], len(items) > limit


def end_user_page(
    *,
    tenant_id: str,
    limit: int,
    after: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    app_id: str | None = None,
    agent_id: str | None = None,
    email_domain: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """End users seen in the records, with their totals; most recently seen first."""
    records = _records_in(tenant_id=tenant_id, since=since, until=until, app_id=app_id, agent_id=agent_id)
    records = records.filter(user__isnull=False)
    if email_domain:
        records = records.filter(user__iendswith=f"@{email_domain.lstrip('@')}")
    grouped = records.values("user").annotate(
        **TOTAL_ANNOTATIONS, conversations=Count("conversation_id", distinct=True)
    )
    return _aggregate_page(grouped, column="user", limit=limit, after=after)


def end_user_seen(*, tenant_id: str, user: str) -> bool:
    return _records_in(tenant_id=tenant_id).filter(user=user).exists()


def conversation_page(
    *,
    tenant_id: str,
    user: str,
    limit: int,
    after: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    app_id: str | None = None,
    agent_id: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """The user's conversations (records with a ``conversation_id``), most recently active first."""
    records = _records_in(tenant_id=tenant_id, since=since, until=until, app_id=app_id, agent_id=agent_id)
    records = records.filter(user=user, conversation_id__isnull=False)
    grouped = records.values("conversation_id").annotate(**TOTAL_ANNOTATIONS)
    items, has_more = _aggregate_page(grouped, column="conversation_id", limit=limit, after=after)
    models: dict[str, set[str]] = defaultdict(set)
    pairs = records.filter(conversation_id__in=[item["conversation_id"] for item in items])
    for conversation_id, model in pairs.values_list("conversation_id", "model_requested").distinct():
        if model:
            models[conversation_id].add(model)
    for item in items:
        item["models"] = sorted(models[item["conversation_id"]])
    return items, has_more


# --- reports ---


def report_list(*, tenant_id: str, framework: str | None = None, status: str | None = None) -> QuerySet[Report]:
    reports = Report.objects.for_tenant(tenant_id)
    if framework:
        reports = reports.filter(framework=framework)
    if status:
        reports = reports.filter(status=status)
    return reports


def report_get(*, tenant_id: str, report_id: str) -> Report | None:
    return report_list(tenant_id=tenant_id).filter(pk=report_id).first()
