"""Reads of the analytics app, always within one tenant: usage, end users, conversations, reports.

Usage is exact at any moment: rollup rows answer the blocks of time a window covers, and the
records not yet folded into them (the tail), plus the window's stretches no block covers, are
read from the forensic record itself. See :func:`usage_summary` for why the two never overlap.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from analytics.aggregates import BY_ENDPOINT, cells_aggregate, rows_read
from analytics.buckets import (
    BREAKDOWN_SPANS,
    EPOCH,
    OPEN_HOURS,
    Segment,
    block_start,
    block_usable,
    open_hours_from,
    span_delta,
    window_cover,
)
from analytics.models import Breakdown, Report, UsageRollupState
from analytics.usage_totals import UsageTotals
from core.errors import invalid_request
from forensics.models import RequestLog
from forensics.selectors import LOG_PAGE_WINDOWS

GROUP_BY = ("day", "hour", "model", "user", "app", "agent", "endpoint")
TIME_GROUPS = ("day", "hour")
# Which record column each group reads for the tail.
RECORD_COLUMN = {
    "model": "model_requested", "user": "user", "app": "app_id", "agent": "agent_id", "endpoint": "endpoint",
}  # fmt: skip
TAIL_FIELDS = ("created_at", "seq", "status_code", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms")
# SPEC 5.8: the default window, and the largest one may ask for. 400 days of hours are 9,601
# groups at most, so the time groupings stay under USAGE_MAX_GROUPS by the window alone; the
# others (a user per group, say) are counted as they are read.
USAGE_DEFAULT_WINDOW = timedelta(days=30)
USAGE_MAX_WINDOW = timedelta(days=400)
USAGE_MAX_GROUPS = 10_000
# Where the rollup blocks can count (they are aligned on days since 1970, the largest is 32
# days long): a bound outside answers 400, where date arithmetic would overflow into a 500.
USAGE_EARLIEST = EPOCH
USAGE_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _require_tenant(tenant_id: str) -> None:
    if not tenant_id:
        raise ValueError("a tenant is required")


def _hour_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


def _time_key(group_by: str, moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d") if group_by == "day" else _hour_text(moment)


def _cell_key(group_by: str | None, agent_id: str, value: str) -> str | None:
    """The group of a rollup cell or SQL aggregate (for groups that are not times)."""
    if group_by == "agent":
        return agent_id or None
    if group_by in RECORD_COLUMN:
        return value or None
    return None


def _record_key(group_by: str | None, created_at: datetime, dimension: str | None) -> str | None:
    return _time_key(group_by, created_at) if group_by in TIME_GROUPS else dimension or None


def _breakdowns(group_by: str | None, agent_id: str | None) -> tuple[str | None, str]:
    """The breakdown whose rows answer a grouping (None: none does), and the one raw records are summed by."""
    if group_by in (None, *TIME_GROUPS, "agent"):
        breakdown = Breakdown.AGENT if agent_id or group_by == "agent" else Breakdown.TOTAL
        return breakdown, breakdown
    if group_by == "model":
        return (Breakdown.AGENT_MODEL if agent_id else Breakdown.MODEL), Breakdown.MODEL
    if group_by == "app":
        return (Breakdown.AGENT_APP if agent_id else Breakdown.APP), Breakdown.APP
    if group_by == "endpoint":
        # Summed from the records: rollup rows by endpoint would be exact only from the day
        # they were first built, while these answers must be exact over any window (SPEC 5.8).
        return None, BY_ENDPOINT
    # One agent's end users are not rolled up (there would be about a row per request).
    return (None if agent_id else Breakdown.USER), Breakdown.USER


def _spans(breakdown: str | None, group_by: str | None) -> tuple[int, ...]:
    if breakdown is None:
        return ()
    spans = BREAKDOWN_SPANS[breakdown]
    if breakdown in OPEN_HOURS:
        spans = (1, *spans)  # the hours of open 8-hour blocks (see _UsageRead.hours_from)
    if group_by == "hour":
        return tuple(span for span in spans if span == 1)
    if group_by == "day":
        return tuple(span for span in spans if span <= 24)
    return spans


@contextmanager
def _snapshot() -> Iterator[bool]:
    """One snapshot for every query of an answer, so that its groups add up to its totals.

    Yields whether the reads see one snapshot: always in a transaction of its own (PostgreSQL
    ``REPEATABLE READ``; a SQLite transaction is serializable), and in a caller's transaction
    (tests) only on SQLite.
    """
    if connection.in_atomic_block:
        yield connection.vendor == "sqlite"
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield True


@dataclass(frozen=True, slots=True)
class UsageSummary:
    since: datetime
    until: datetime
    totals: UsageTotals
    groups: list[tuple[str, str | None, UsageTotals]]  # (group_by, key value, totals)


@dataclass(slots=True)
class _Fold:
    """One grouping of a window: the blocks it reads, their ``through_seq``, the groups so far."""

    group_by: str | None
    blocks: list[Segment]
    groups: dict[str | None, UsageTotals] = field(default_factory=lambda: defaultdict(UsageTotals))
    through: dict[tuple[int, datetime], int] = field(default_factory=dict)
    starts: list[datetime] = field(init=False)

    def __post_init__(self) -> None:
        self.starts = [block.start for block in self.blocks]

    def block_of(self, moment: datetime) -> Segment | None:
        index = bisect_right(self.starts, moment) - 1
        block = self.blocks[index] if index >= 0 else None
        return block if block is not None and moment < block.end else None


@dataclass(frozen=True, slots=True)
class _UsageRead:
    """The reads of one answer.

    ``complements``: the reads share one snapshot, so an edge of the window may be read as its
    whole block minus the records of the block outside the window, when those are fewer.
    """

    tenant_id: str
    since: datetime
    until: datetime
    agent_id: str | None
    watermark: int
    closed_until: datetime | None
    complements: bool = False

    def fold(self, group_by: str | None) -> tuple[dict[str | None, UsageTotals], UsageTotals]:
        """The window's usage per group of ``group_by``, and in total."""
        breakdown, summed_by = _breakdowns(group_by, self.agent_id)
        since, until, outside = self._edges(_spans(breakdown, group_by), self._hours_from(breakdown))
        segments = self._cover(since, until, breakdown, group_by)
        folds = [_Fold(group_by, [segment for segment in segments if segment.span])]
        if group_by in TIME_GROUPS:
            # A time group is often one row, whose stored percentiles suffice; the totals read
            # the coarsest blocks rather than merge every group's histogram. Both cover the
            # same whole hours, so they share the tail and the raw edges.
            totals_blocks = [segment for segment in self._cover(since, until, breakdown, None) if segment.span]
            folds.append(_Fold(None, totals_blocks))
        for fold in folds:
            if fold.blocks:
                self._rows_fold(breakdown, fold)
        self._tail_fold(folds)
        for segment in segments:
            if not segment.span:
                self._raw_fold(summed_by, segment, folds)
        for segment in outside:
            self._raw_fold(summed_by, segment, folds, subtract=True)
        if len(folds) == 2:
            return folds[0].groups, folds[1].groups.get(None) or UsageTotals()
        if group_by is None:
            return {}, folds[0].groups.get(None) or UsageTotals()
        if group_by == "user":
            # Thousands of groups: reading the totals anew costs less than merging them all.
            return folds[0].groups, self.fold(None)[1]
        totals = UsageTotals()
        for group in folds[0].groups.values():
            totals.merge(group)
        return folds[0].groups, totals

    def _hours_from(self, breakdown: str | None) -> datetime | None:
        """Where the breakdown's 1-hour blocks start having rows (None: everywhere they hold records)."""
        return open_hours_from(self.closed_until) if breakdown in OPEN_HOURS else None

    def _usable(self, start: datetime, span: int, hours_from: datetime | None) -> bool:
        return block_usable(start, start + span_delta(span), span, self.closed_until, hours_from)

    @staticmethod
    def _finest(spans: tuple[int, ...], moment: datetime, hours_from: datetime | None) -> int | None:
        """The finest span that may have rows at ``moment`` (hours only from ``hours_from``)."""
        usable = [span for span in spans if span != 1 or hours_from is None or moment >= hours_from]
        return min(usable) if usable else None

    def _edges(self, spans: tuple[int, ...], hours_from: datetime | None) -> tuple[datetime, datetime, list[Segment]]:
        """The window to read, and the stretches of it outside ``[since, until)`` to take away.

        An edge that is the larger part of a usable block of the finest span there (say 40
        minutes of an hour) is read as the whole block minus the smaller part; with ``until`` =
        now, that part is in the future and holds no record at all.
        """
        since, until, outside = self.since, self.until, []
        if not (self.complements and spans):
            return since, until, outside
        finest = self._finest(spans, block_start(since, 1), hours_from)
        start = block_start(since, finest) if finest else since
        if (
            start < since
            and since - start < start + span_delta(finest) - since
            and self._usable(start, finest, hours_from)
        ):
            since, outside = start, [Segment(start, self.since, None)]
        finest = self._finest(spans, block_start(until, 1), hours_from)
        start = block_start(until, finest) if finest else until
        end = start + span_delta(finest) if finest else until
        if start < until and end - until < until - start and self._usable(start, finest, hours_from):
            until = end
            outside.append(Segment(self.until, end, None))
        return since, until, outside

    def _cover(self, since: datetime, until: datetime, breakdown: str | None, group_by: str | None) -> list[Segment]:
        return window_cover(
            since, until, spans=_spans(breakdown, group_by), closed_until=self.closed_until,
            merge_raw=group_by not in TIME_GROUPS, hours_from=self._hours_from(breakdown),
        )  # fmt: skip

    def _rows_fold(self, breakdown: str, fold: _Fold) -> None:
        """Fold the blocks' rows into the groups, noting each block's ``through_seq``."""
        rows = rows_read(
            tenant_id=self.tenant_id, breakdown=breakdown, agent_id=self.agent_id,
            blocks=[(block.span, block.start) for block in fold.blocks],
        )  # fmt: skip
        group_by = fold.group_by
        for row in rows:
            (
                span,
                start,
                through_seq,
                agent_id,
                value,
                requests,
                errors,
                unpriced,
                prompt,
                completion,
                cost,
                *latency,
            ) = row
            fold.through[(span, start)] = through_seq
            key = _time_key(group_by, start) if group_by in TIME_GROUPS else _cell_key(group_by, agent_id, value)
            counts, pages, p50, p95 = latency
            fold.groups[key].add_row(
                requests=requests, errors=errors, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
                latency_counts=counts, latency_pages=pages, latency_p50_ms=p50, latency_p95_ms=p95,
                unpriced_requests=unpriced,
            )  # fmt: skip

    def _tail_fold(self, folds: list[_Fold]) -> None:
        """Fold the records of the blocks that their rows do not hold yet (see usage_summary)."""
        blocks = [block for fold in folds for block in fold.blocks]
        if not blocks:
            return
        records = RequestLog.objects.filter(
            Q(seq__gt=self.watermark) | Q(sealed_at__isnull=True), tenant_id=self.tenant_id,
            created_at__gte=min(block.start for block in blocks), created_at__lt=max(block.end for block in blocks),
        )  # fmt: skip
        if self.agent_id is not None:
            records = records.filter(agent_id=self.agent_id)
        column = RECORD_COLUMN.get(folds[0].group_by)
        for values in records.order_by().values_list(*TAIL_FIELDS, *([column] if column else [])):
            created_at, seq, status_code, prompt, completion, cost, latency = values[:7]
            dimension = values[7] if column else None
            for fold in folds:
                block = fold.block_of(created_at)
                if block is None:
                    continue  # in a stretch read raw
                if seq is not None and seq <= fold.through.get((block.span, block.start), 0):
                    continue
                fold.groups[_record_key(fold.group_by, created_at, dimension)].add_record(
                    status_code=status_code, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
                    latency_ms=latency,
                )  # fmt: skip

    def _raw_fold(self, summed_by: str, segment: Segment, folds: list[_Fold], *, subtract: bool = False) -> None:
        cells = cells_aggregate(
            tenant_id=self.tenant_id, breakdown=summed_by, start=segment.start, end=segment.end, agent_id=self.agent_id
        )
        for cell in cells:
            for fold in folds:
                if fold.group_by in TIME_GROUPS:
                    key = _time_key(fold.group_by, segment.start)
                else:
                    key = _cell_key(fold.group_by, cell.agent_id, cell.value)
                add = fold.groups[key].subtract_aggregate if subtract else fold.groups[key].add_aggregate
                add(
                    requests=cell.requests,
                    errors=cell.errors,
                    prompt_tokens=cell.prompt_tokens,
                    completion_tokens=cell.completion_tokens,
                    cost_usd=cell.cost_usd,
                    counts=cell.counts,
                    unpriced_requests=cell.unpriced_requests,
                )


def usage_window(
    *, since: datetime | None, until: datetime | None, group_by: str | None = None
) -> tuple[datetime, datetime]:
    """The window ``[since, until)`` of a usage query, or ``400 invalid_request`` saying why not.

    SPEC 5.8's rules, checked before anything is read: ``until`` defaults to now and ``since``
    to 30 days before ``until``; ``since`` comes first; the window is at most 400 days long
    (a longer one, grouped by hour, would be tens of thousands of groups read for nothing).
    Both ends lie between 1970 and 9999, where the rollup blocks can count.
    """
    if group_by is not None and group_by not in GROUP_BY:
        raise invalid_request(f"group_by: must be one of {', '.join(GROUP_BY)}", "invalid_group_by")
    until = until or timezone.now()
    _bound_check(until, "until")
    since = since or max(until - USAGE_DEFAULT_WINDOW, USAGE_EARLIEST)
    _bound_check(since, "since")
    if since >= until:
        raise invalid_request("until: must be after since", "invalid_window")
    if until - since > USAGE_MAX_WINDOW:
        raise invalid_request(
            f"the window from since to until is longer than {USAGE_MAX_WINDOW.days} days", "window_too_long"
        )
    return since, until


def _bound_check(moment: datetime, name: str) -> None:
    if not USAGE_EARLIEST <= moment < USAGE_LATEST:
        raise invalid_request(
            f"{name}: must be from {USAGE_EARLIEST:%Y-%m-%d} to before {USAGE_LATEST:%Y-%m-%d}", f"invalid_{name}"
        )


def usage_summary(
    *,
    tenant_id: str,
    since: datetime | None,
    until: datetime | None,
    group_by: str | None = None,
    agent_id: str | None = None,
    max_groups: int | None = USAGE_MAX_GROUPS,
) -> UsageSummary:
    """Usage of ``[since, until)``, exact at the moment of the call.

    The window goes through :func:`usage_window` (defaults and SPEC 5.8's bounds). An answer
    of more than ``max_groups`` groups is refused (``400 invalid_request``, reason
    ``too_many_groups``); callers that show only the top few (the dashboard) pass None.

    Why rows and tail never overlap: every row of a block holds exactly the block's
    records with ``seq <= through_seq`` of that block, and a rollup run recomputes every
    block that gained records before it moves the tenant's watermark. So, with the
    watermark ``W`` read *first*, every record with ``seq <= W`` is in the rows read after;
    a record with a larger ``seq`` (or none yet) is in them exactly when its block's rows
    say ``through_seq >= seq``. Records never change ``seq``, so no lock is needed. Blocks
    other than hours are read only when closed (``UsageRollupState.closed_until``), when
    the same holds for them; stretches no usable block covers are summed from the records.
    """
    _require_tenant(tenant_id)
    since, until = usage_window(since=since, until=until, group_by=group_by)
    with _snapshot() as consistent:
        state = UsageRollupState.objects.filter(tenant_id=tenant_id).values_list("through_seq", "closed_until").first()
        watermark, closed_until = state or (0, None)
        read = _UsageRead(tenant_id, since, until, agent_id, watermark, closed_until, complements=consistent)
        groups, totals = read.fold(group_by)
    # A group read by complement may have lost every request it had.
    ordered = _groups_ordered(group_by, {k: g for k, g in groups.items() if g.requests}) if group_by else []
    if max_groups is not None and len(ordered) > max_groups:
        raise invalid_request(
            f"group_by={group_by} answers {len(ordered)} groups in this window, more than {max_groups}; "
            "ask for a shorter window",
            "too_many_groups",
        )
    return UsageSummary(since=since, until=until, totals=totals, groups=[(group_by, k, t) for k, t in ordered])


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
    # Before "cost_usd": once that name is the sum, a filter on it would mean the sum.
    "unpriced_requests": Count("id", filter=Q(cost_usd__isnull=True)),
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
    """End users seen in the records, with their totals; most recently seen first.

    Without an app or agent filter the page is chosen first, from each user's last record
    (:func:`_users_last_seen`), and only its users' records are summed: a tenant's first page
    no longer groups every record it holds (docs/performance.md → Decisions). An app or agent
    filter groups that app's or agent's records, as before.
    """
    records = _records_in(tenant_id=tenant_id, since=since, until=until, app_id=app_id, agent_id=agent_id)
    records = records.filter(user__isnull=False)
    if email_domain:
        records = records.filter(user__iendswith=f"@{email_domain.lstrip('@')}")
    totals = dict(TOTAL_ANNOTATIONS, conversations=Count("conversation_id", distinct=True))
    if app_id or agent_id:
        return _aggregate_page(records.values("user").annotate(**totals), column="user", limit=limit, after=after)
    last_seen = _users_last_seen(tenant_id=tenant_id, since=since, until=until, email_domain=email_domain)
    # Most recently seen first, ties by identity: sorts are stable, also in reverse.
    order = sorted(sorted(last_seen), key=last_seen.__getitem__, reverse=True)
    if after:
        if after not in last_seen:
            raise invalid_request("after: names no object of this list", "invalid_cursor")
        order = order[order.index(after) + 1 :]
    page = order[:limit]
    summed = {row["user"]: row for row in records.filter(user__in=page).values("user").annotate(**totals)}
    return [summed[user] for user in page if user in summed], len(order) > limit


# Each distinct user of the tenant by a walk of the (tenant_id, user, created_at) index, one
# probe per user (PostgreSQL has no skip scan of its own), and each one's last record in the
# window by one more probe, or two (see _users_last_seen). Both dialects run it; "user" is
# quoted (a keyword).
USERS_LAST_SEEN_SQL = """
WITH RECURSIVE seen(u) AS (
    SELECT MIN("user") FROM forensics_requestlog WHERE tenant_id = %s AND "user" IS NOT NULL
    UNION ALL
    SELECT (SELECT MIN("user") FROM forensics_requestlog WHERE tenant_id = %s AND "user" > seen.u)
    FROM seen WHERE seen.u IS NOT NULL
)
SELECT u, {last_seen} AS last_seen
FROM seen WHERE u IS NOT NULL{domain}
"""
# The recent window a user's last record is looked for in first: a month, as log_get's.
USERS_RECENT_WINDOW = LOG_PAGE_WINDOWS[-1]
USER_LAST_RECORD_SQL = """(SELECT MAX(created_at) FROM forensics_requestlog
           WHERE tenant_id = %s AND "user" = seen.u{window})"""


def _user_last_record(tenant_id: str, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """The probe for one user's last record in ``[since, until)``, and its parameters."""
    window, params = "", [tenant_id]
    for bound, operator in ((since, ">="), (until, "<")):
        if bound is not None:
            window += f" AND created_at {operator} %s"
            params.append(connection.ops.adapt_datetimefield_value(bound))
    return USER_LAST_RECORD_SQL.format(window=window), params


def _users_last_seen(
    *,
    tenant_id: str,
    since: datetime | None,
    until: datetime | None,
    email_domain: str | None,
) -> dict[str, Any]:
    """Each end user with a record in the window, and the time of their last one.

    A user's last record is looked for in the last month of the window first, and in the
    whole window only when that finds none: most users listed were active lately, and on
    PostgreSQL the first probe then plans the recent month partitions rather than every one
    (docs/decisions.md, "Reads of the records bounded in time"). The last record in the last
    month is the last one overall, since every later record is in that month too. The walk
    over the distinct users stays unbounded: without ``since`` every user ever seen is listed.

    The times come back as the database holds them (a datetime on PostgreSQL, text on
    SQLite); they are only compared with each other, and in both forms they order in time.
    """
    _require_tenant(tenant_id)
    last_seen, probe_params = _user_last_record(tenant_id, since, until)
    recent = timezone.now() - USERS_RECENT_WINDOW
    if (since is None or since < recent) and (until is None or until > recent):
        recent_probe, recent_params = _user_last_record(tenant_id, recent, until)
        # COALESCE evaluates its second argument only when the first is NULL, in both dialects.
        last_seen = f"COALESCE({recent_probe}, {last_seen})"
        probe_params = recent_params + probe_params
    params = [tenant_id, tenant_id, *probe_params]
    domain = ""
    if email_domain:
        domain = " AND LOWER(u) LIKE %s ESCAPE '\\'"
        params.append("%@" + connection.ops.prep_for_like_query(email_domain.lstrip("@").lower()))
    with connection.cursor() as cursor:
        cursor.execute(USERS_LAST_SEEN_SQL.format(last_seen=last_seen, domain=domain), params)
        return {user: seen for user, seen in cursor.fetchall() if seen is not None}


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
