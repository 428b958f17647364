"""Writes of the analytics app: usage rollups and compliance reports.

Rollups
-------
A rollup run folds one tenant's sealed records into rows per block of time and cell
(``analytics.models.UsageRollup``). Its watermark is the records' chain position (``seq``),
not their time: a record carries the time its request *started* and may be written minutes
later (a long stream), but the sealer numbers records in the order they were committed, so
"every record up to ``seq`` N" is a set that never grows once the chain head has passed N.

A run locks the tenant's :class:`UsageRollupState` row, takes the new records
``(watermark, target]``, rebuilds every 1-hour block they fall in from *all* its records up
to ``target`` (one ``INSERT … SELECT``), rebuilds the coarser blocks holding those hours
that are closed (they end at or before ``closed_until``, which follows the clock and the
oldest record not yet folded), builds the blocks closed since the previous run, and moves
the watermark, all in one transaction. Coarser blocks are built from the rows of the span
below (two blocks each, a day from three 8-hour blocks), or from records for the finest
blocks of the breakdowns that have no hours (8 hours for agents by model or app, the day for
end users). A re-run finds nothing new; a run
asked to stop at an older position than the watermark does nothing; rows are only ever
recomputed, never incremented, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.db.models.functions import Length, TruncHour
from django.utils import timezone

from analytics.aggregates import cells_build
from analytics.buckets import (
    BREAKDOWN_SPANS,
    OPEN_HOURS,
    OPEN_HOURS_BLOCK,
    SPANS,
    block_start,
    hour_floor,
    open_hours_from,
    span_delta,
)
from analytics.compliance import report_findings
from analytics.latency import SMALL, counts_as_pages
from analytics.models import Breakdown, Report, ReportStatus, UsageRollup, UsageRollupState
from analytics.usage_totals import UsageTotals
from core.actors import Actor
from forensics.models import AuditChainHead, RequestLog
from forensics.services import event_record

logger = logging.getLogger(__name__)

ROLLUP_BATCH = 100_000
ROW_FIELDS = (
    "breakdown", "agent_id", "value", "requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd",
    "latency_counts", "latency_pages", "latency_p50_ms", "latency_p95_ms", "unpriced_requests",
)  # fmt: skip
Cell = tuple[str, str, str]  # breakdown, agent_id, value


def _hours_of(records) -> set[datetime]:
    return set(records.order_by().annotate(hour=TruncHour("created_at")).values_list("hour", flat=True).distinct())


def _from_records(span: int) -> list[str]:
    """The breakdowns whose blocks of ``span`` are built from records (their finest span)."""
    return [breakdown for breakdown, spans in BREAKDOWN_SPANS.items() if spans[0] == span]


def _from_rows(span: int) -> dict[int, list[str]]:
    """The breakdowns whose blocks of ``span`` are built from rows, by the span of those rows."""
    below: dict[int, list[str]] = defaultdict(list)
    for breakdown, spans in BREAKDOWN_SPANS.items():
        if span in spans[1:]:
            below[spans[spans.index(span) - 1]].append(breakdown)
    return below


def _block_from_rows(
    *, tenant_id: str, breakdowns: list[str], span: int, start: datetime, child_span: int, through_seq: int
) -> list[UsageRollup]:
    cells: dict[Cell, UsageTotals] = defaultdict(UsageTotals)
    children = UsageRollup.objects.filter(
        tenant_id=tenant_id, breakdown__in=breakdowns, span=child_span, bucket_start__gte=start,
        bucket_start__lt=start + span_delta(span),
    ).values_list(*ROW_FIELDS)  # fmt: skip
    for breakdown, agent_id, value, requests, errors, prompt, completion, cost, counts, pages, p50, p95, u in children:
        cells[(breakdown, agent_id, value)].add_row(
            requests=requests, errors=errors, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
            latency_counts=counts, latency_pages=pages, latency_p50_ms=p50, latency_p95_ms=p95, unpriced_requests=u,
        )  # fmt: skip
    now = timezone.now()
    rows = []
    for (breakdown, agent_id, value), totals in cells.items():
        counts, pages, p50, p95 = totals.latency.encode()
        rows.append(
            UsageRollup(
                tenant_id=tenant_id,
                span=span,
                bucket_start=start,
                breakdown=breakdown,
                agent_id=agent_id,
                value=value,
                requests=totals.requests,
                errors=totals.errors,
                unpriced_requests=totals.unpriced_requests,
                prompt_tokens=totals.prompt_tokens,
                completion_tokens=totals.completion_tokens,
                cost_usd=totals.cost_usd,
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                latency_counts=counts,
                latency_pages=pages,
                through_seq=through_seq,
                computed_at=now,
            )
        )
    return rows


COPY_COLUMNS = (
    "tenant_id", "span", "bucket_start", "breakdown", "agent_id", "value", "requests", "errors", "prompt_tokens",
    "completion_tokens", "cost_usd", "latency_p50_ms", "latency_p95_ms", "latency_counts", "latency_pages",
    "through_seq", "computed_at", "unpriced_requests",
)  # fmt: skip


def _rows_insert(rows: list[UsageRollup]) -> None:
    if connection.vendor != "postgresql":
        UsageRollup.objects.bulk_create(rows, batch_size=500)
        return
    # COPY: a catch-up writes tens of thousands of rows with binary histograms, and an INSERT
    # with client-side parameters would spend most of its time quoting them.
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY analytics_usagerollup ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([getattr(row, column) for column in COPY_COLUMNS])


# Only placeholders are formatted in: the values travel as parameters.
BUSY_ROWS_UPDATE = """UPDATE analytics_usagerollup AS r SET latency_counts = '', latency_pages = v.pages
FROM (VALUES {values}) AS v(id, pages) WHERE r.id = v.id"""


def _busy_rows_encode(*, tenant_id: str, span: int, start: datetime, breakdowns: list[str]) -> None:
    """Store the histograms of the block's busy rows, just built from records as JSON, as pages.

    Only rows long enough to hold ``SMALL`` distinct values are read back (an entry is at
    least six characters of JSON); :func:`analytics.latency.counts_as_pages` keeps the rest.
    The p50 and p95 stored beside them do not change.
    """
    candidates = (
        UsageRollup.objects.filter(tenant_id=tenant_id, span=span, bucket_start=start, breakdown__in=breakdowns)
        .annotate(counts_length=Length("latency_counts"))
        .filter(counts_length__gte=SMALL * 6)
        .only("pk", "requests", "latency_counts")
    )
    busy = []
    for row in candidates:
        pages = counts_as_pages(row.latency_counts, row.requests)
        if pages is not None:
            row.latency_counts, row.latency_pages = "", pages
            busy.append(row)
    if not busy:
        return
    if connection.vendor != "postgresql":
        UsageRollup.objects.bulk_update(busy, ["latency_counts", "latency_pages"])
        return
    # One statement: Django's bulk_update writes a CASE per column and row, which cost as much
    # as the hour's INSERT … SELECT itself.
    with connection.cursor() as cursor:
        cursor.execute(
            BUSY_ROWS_UPDATE.format(values=", ".join(["(%s, %s::bytea)"] * len(busy))),
            [item for row in busy for item in (row.pk, row.latency_pages)],
        )


def _block_rebuild(
    *, tenant_id: str, span: int, start: datetime, through_seq: int, closed_until: datetime | None
) -> None:
    """Recompute block ``[start, start + span)`` of every breakdown kept at ``span``.

    An hour also gets the rows of the ``OPEN_HOURS`` breakdowns while its 8-hour block is open.
    """
    from_records, from_rows = _from_records(span), _from_rows(span)
    breakdowns = from_records + [b for group in from_rows.values() for b in group]
    if span == 1:
        breakdowns += OPEN_HOURS
        if start >= open_hours_from(closed_until):
            from_records = from_records + list(OPEN_HOURS)
    UsageRollup.objects.filter(tenant_id=tenant_id, span=span, bucket_start=start, breakdown__in=breakdowns).delete()
    if from_records:
        # Stored percentiles serve groups made of one row: the hours of group_by=hour.
        cells_build(
            tenant_id=tenant_id, breakdowns=from_records, span=span, start=start, end=start + span_delta(span),
            through_seq=through_seq, computed_at=timezone.now(),
            percentiles=[b for b in from_records if b in (Breakdown.TOTAL, Breakdown.AGENT)],
        )  # fmt: skip
        _busy_rows_encode(tenant_id=tenant_id, span=span, start=start, breakdowns=from_records)
    rows = []
    for child_span, group in from_rows.items():
        rows += _block_from_rows(
            tenant_id=tenant_id, breakdowns=group, span=span, start=start, child_span=child_span,
            through_seq=through_seq,
        )  # fmt: skip
    _rows_insert(rows)


def _blocks_rebuild(
    *,
    tenant_id: str,
    hours: Iterable[datetime],
    closed_before: datetime | None,
    closed_until: datetime | None,
    through_seq: int,
) -> None:
    """Rebuild the hours, the closed blocks holding them, and the blocks closed since ``closed_before``."""
    touched = set(hours)
    hours = sorted(touched)
    for hour in hours:
        _block_rebuild(tenant_id=tenant_id, span=1, start=hour, through_seq=through_seq, closed_until=closed_until)
    if closed_until is None:
        return
    # The hour rows of 8-hour blocks closed by now: their blocks have rows of their own.
    UsageRollup.objects.filter(
        tenant_id=tenant_id, breakdown__in=OPEN_HOURS, span=1, bucket_start__lt=open_hours_from(closed_until)
    ).delete()
    closing = hours
    if closed_before is None or closed_before < closed_until:
        # Blocks that have just closed hold hours folded by earlier runs too: every hour with rows.
        lower = closed_before or block_start(hours[0] if hours else closed_until, SPANS[-1])
        folded = UsageRollup.objects.filter(
            tenant_id=tenant_id, breakdown=Breakdown.TOTAL, span=1, bucket_start__gte=block_start(lower, SPANS[-1]),
            bucket_start__lt=closed_until,
        ).values_list("bucket_start", flat=True)  # fmt: skip
        closing = sorted(set(hours) | set(folded))
    for span in SPANS[1:]:
        starts = set()
        for hour in closing:
            start = block_start(hour, span)
            end = start + span_delta(span)
            if end <= closed_until and (hour in touched or closed_before is None or end > closed_before):
                starts.add(start)
        for start in sorted(starts):
            _block_rebuild(
                tenant_id=tenant_id, span=span, start=start, through_seq=through_seq, closed_until=closed_until
            )


def _work_memory() -> None:
    """Let a day of records be grouped in memory (PostgreSQL's default spills it to disk)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")


def _closed_until(*, tenant_id: str, target: int, before: datetime | None) -> datetime:
    """Coarser blocks are built once their time is over: before this hour, and before the
    oldest record still to fold (so that catching up builds each of them once, not per batch)."""
    closed = hour_floor(timezone.now())
    following = RequestLog.objects.filter(tenant_id=tenant_id, seq=target + 1).values_list("created_at", flat=True)
    if (pending := following.first()) is not None:
        closed = min(closed, hour_floor(pending))
    # Never back: a block once closed keeps its rows up to date from then on.
    return max(closed, before) if before is not None else closed


def _block_aligned(*, tenant_id: str, after: int, target: int) -> int:
    """Where a batch of a catch-up ends: before the ``OPEN_HOURS_BLOCK`` its last record
    starts, when earlier records of the batch lie before that block.

    The hours of the block holding ``closed_until`` get ``OPEN_HOURS`` rows, deleted again
    once the block closes. A batch that ends inside a block leaves that block open, so every
    hour of a long catch-up would pay for those rows once and for their deletion once; a batch
    that ends at a block's edge closes its blocks instead (its next record starts the next
    one), and only the last batch, at the chain's head, builds open hours."""
    last = RequestLog.objects.filter(tenant_id=tenant_id, seq=target).values_list("created_at", flat=True).first()
    if last is None:
        return target
    edge = block_start(last, OPEN_HOURS_BLOCK)
    aligned = RequestLog.objects.filter(
        tenant_id=tenant_id, seq__gt=after, seq__lte=target, created_at__lt=edge
    ).aggregate(end=Max("seq"))["end"]
    return aligned or target


def _rollup_batch(*, tenant_id: str, through_seq: int | None, batch: int) -> int:
    with transaction.atomic():
        # The state row is the tenant's rollup lock: two runs never fold the same records.
        state = UsageRollupState.objects.select_for_update().get(tenant_id=tenant_id)
        _work_memory()
        head = AuditChainHead.objects.filter(tenant_id=tenant_id).values_list("last_seq", flat=True).first() or 0
        target = min(head, state.through_seq + batch)
        if through_seq is not None:
            target = min(target, through_seq)
        if target <= state.through_seq:
            return 0
        if target < head:
            target = _block_aligned(tenant_id=tenant_id, after=state.through_seq, target=target)
        hours = _hours_of(RequestLog.objects.filter(tenant_id=tenant_id, seq__gt=state.through_seq, seq__lte=target))
        closed_until = _closed_until(tenant_id=tenant_id, target=target, before=state.closed_until)
        _blocks_rebuild(
            tenant_id=tenant_id, hours=hours, closed_before=state.closed_until, closed_until=closed_until,
            through_seq=target,
        )  # fmt: skip
        state.through_seq, state.closed_until = target, closed_until
        state.save(update_fields=["through_seq", "closed_until", "updated_at"])
        return target


def usage_rollup(
    *, tenant_id: str, through_seq: int | None = None, batch: int = ROLLUP_BATCH, seconds: float | None = None
) -> int:
    """Fold the tenant's sealed records up to ``through_seq`` (default: all) into rollups.

    Returns the new watermark, or 0 when there was nothing to do. Idempotent, and safe to
    run concurrently or out of order: runs serialise on the tenant's state row, and a run
    whose ``through_seq`` is behind the watermark does nothing.

    ``seconds``: begin no batch once that long has passed (each batch is its own transaction,
    so the run stops between two, the work of both kept). A Celery task passes a budget under
    its soft time limit: a long catch-up cut by the limit lost the batch under way, and under
    load that was minutes of work; the next beat picks up where the run stopped.
    """
    UsageRollupState.objects.get_or_create(tenant_id=tenant_id)
    reached = 0
    started = time.monotonic()
    while moved := _rollup_batch(tenant_id=tenant_id, through_seq=through_seq, batch=batch):
        reached = moved
        if seconds is not None and time.monotonic() - started >= seconds:
            break
    return reached


def usage_rollup_rebuild(*, tenant_id: str, since: datetime, until: datetime) -> int:
    """Recompute every block of ``[since, until)`` from the records at the current watermark.

    For operators (a bug fixed, a price corrected in the records): the result is the same
    as if the rollups had been built from scratch. Records deleted by retention are gone
    from the recomputed blocks too. Returns how many hours were recomputed.
    """
    UsageRollupState.objects.get_or_create(tenant_id=tenant_id)
    with transaction.atomic():
        state = UsageRollupState.objects.select_for_update().get(tenant_id=tenant_id)
        _work_memory()
        start = hour_floor(since)
        hours = _hours_of(
            RequestLog.objects.filter(
                tenant_id=tenant_id, created_at__gte=start, created_at__lt=until, seq__lte=state.through_seq
            )
        )
        hours |= set(
            UsageRollup.objects.filter(
                tenant_id=tenant_id, breakdown=Breakdown.TOTAL, span=1, bucket_start__gte=start, bucket_start__lt=until
            ).values_list("bucket_start", flat=True)
        )
        _blocks_rebuild(
            tenant_id=tenant_id, hours=hours, closed_before=state.closed_until, closed_until=state.closed_until,
            through_seq=state.through_seq,
        )  # fmt: skip
        return len(hours)


def usage_rollup_due() -> list[str]:
    """Tenants whose chain has moved past their rollup watermark."""
    watermarks = dict(UsageRollupState.objects.values_list("tenant_id", "through_seq"))
    heads = AuditChainHead.objects.filter(last_seq__gt=0).values_list("tenant_id", "last_seq")
    return sorted(tenant_id for tenant_id, last_seq in heads if last_seq > watermarks.get(tenant_id, 0))


# --- compliance reports ---


@transaction.atomic
def report_delete(*, report: Report, actor: Actor) -> None:
    event_record(
        report, actor=actor, action="report.deleted", changes={"framework": {"before": report.framework, "after": None}}
    )
    report.delete()


def report_build(*, report_id: str) -> Report:
    """Compute the findings of a pending report from the tenant's data; idempotent.

    Database errors propagate (the task retries them); any other failure marks the report
    ``failed`` with a one-line reason and no trace.
    """
    report = Report.objects.get(pk=report_id)
    if report.status != ReportStatus.PENDING:
        return report
    try:
        findings = report_findings(
            tenant_id=report.tenant_id, framework=report.framework, since=report.since, until=report.until
        )
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("report %s failed", report_id)
        return report_fail(report_id=report_id, error=f"the findings could not be computed ({type(exc).__name__})")
    updated = Report.objects.filter(pk=report_id, status=ReportStatus.PENDING).update(
        status=ReportStatus.READY, findings=findings, completed_at=timezone.now(), error=""
    )
    if not updated:
        logger.info("report %s was finished by another worker", report_id)
    report.refresh_from_db()
    return report


def report_fail(*, report_id: str, error: str) -> Report:
    Report.objects.filter(pk=report_id, status=ReportStatus.PENDING).update(
        status=ReportStatus.FAILED, error=error[:500], completed_at=timezone.now()
    )
    return Report.objects.get(pk=report_id)
