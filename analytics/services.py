"""Writes of the analytics app: usage rollups and compliance reports.

Rollups
-------
A rollup run folds one tenant's sealed records into hourly and daily rows. Its watermark is
the records' chain position (``seq``), not their time: a record carries the time its request
*started* and may be written minutes later (a long stream), but the sealer numbers records
in the order they were committed, so "every record up to ``seq`` N" is a set that never
grows once the chain head has passed N. A run locks the tenant's :class:`UsageRollupState`
row, takes the new records ``(watermark, target]``, recomputes every hour bucket they fall
in from *all* its records up to ``target``, recomputes those days from their hours, and
moves the watermark, all in one transaction. A re-run finds nothing new; a run asked to stop
at an older position than the watermark does nothing; so nothing is ever counted twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from analytics.buckets import DAY, HOUR, day_floor, hour_floor
from analytics.models import Framework, Granularity, Report, ReportStatus, UsageRollup, UsageRollupState
from analytics.usage_totals import UsageTotals
from core.actors import Actor
from forensics.models import AuditChainHead, RequestLog
from forensics.services import event_record

logger = logging.getLogger(__name__)

ROLLUP_BATCH = 20_000
RECORD_FIELDS = (
    "app_id", "agent_id", "user", "model_requested", "status_code", "error_code", "prompt_tokens",
    "completion_tokens", "cost_usd", "latency_ms",
)  # fmt: skip
CELL_FIELDS = ("app_id", "agent_id", "user", "model")
Cell = tuple[str, str, str, str]


def record_fold(totals: UsageTotals, values: tuple) -> None:
    """Fold one record, given as ``RECORD_FIELDS`` values, into ``totals``."""
    _, _, _, _, status_code, error_code, prompt, completion, cost, latency = values
    totals.add_record(
        status_code=status_code, error_code=error_code, prompt_tokens=prompt, completion_tokens=completion,
        cost_usd=cost, latency_ms=latency,
    )  # fmt: skip


def rollup_fold(totals: UsageTotals, row: UsageRollup | dict) -> None:
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    totals.add_rollup(
        requests=get("requests"), errors=get("errors"), errors_by_code=get("errors_by_code"),
        prompt_tokens=get("prompt_tokens"), completion_tokens=get("completion_tokens"), cost_usd=get("cost_usd"),
        latency_histogram=get("latency_histogram"),
    )  # fmt: skip


def _rows_write(
    *, tenant_id: str, granularity: str, bucket_start: datetime, cells: dict[Cell, UsageTotals], through_seq: int
) -> None:
    UsageRollup.objects.filter(tenant_id=tenant_id, granularity=granularity, bucket_start=bucket_start).delete()
    now = timezone.now()
    UsageRollup.objects.bulk_create(
        [
            UsageRollup(
                tenant_id=tenant_id,
                granularity=granularity,
                bucket_start=bucket_start,
                **dict(zip(CELL_FIELDS, cell, strict=True)),
                **totals.rollup_fields(),
                through_seq=through_seq,
                computed_at=now,
            )
            for cell, totals in cells.items()
        ],
        batch_size=500,
    )


def _hour_rebuild(*, tenant_id: str, hour: datetime, through_seq: int) -> None:
    """Recompute one hour from its records up to ``through_seq`` (never from the old rows)."""
    cells: dict[Cell, UsageTotals] = defaultdict(UsageTotals)
    records = RequestLog.objects.filter(
        tenant_id=tenant_id, created_at__gte=hour, created_at__lt=hour + HOUR, seq__lte=through_seq
    ).values_list(*RECORD_FIELDS)
    for values in records.iterator(chunk_size=5000):
        app_id, agent_id, user, model = values[:4]
        record_fold(cells[(app_id or "", agent_id or "", user or "", model or "")], values)
    _rows_write(
        tenant_id=tenant_id, granularity=Granularity.HOUR, bucket_start=hour, cells=cells, through_seq=through_seq
    )


def _day_rebuild(*, tenant_id: str, day: datetime, through_seq: int) -> None:
    """Recompute one day from its hour rows; histograms merge exactly, so nothing is lost."""
    cells: dict[Cell, UsageTotals] = defaultdict(UsageTotals)
    hours = UsageRollup.objects.filter(
        tenant_id=tenant_id, granularity=Granularity.HOUR, bucket_start__gte=day, bucket_start__lt=day + DAY
    )
    for row in hours.iterator(chunk_size=2000):
        rollup_fold(cells[(row.app_id, row.agent_id, row.user, row.model)], row)
    _rows_write(
        tenant_id=tenant_id, granularity=Granularity.DAY, bucket_start=day, cells=cells, through_seq=through_seq
    )


def _buckets_rebuild(*, tenant_id: str, hours: Iterable[datetime], through_seq: int) -> None:
    hours = sorted(set(hours))
    for hour in hours:
        _hour_rebuild(tenant_id=tenant_id, hour=hour, through_seq=through_seq)
    for day in sorted({day_floor(hour) for hour in hours}):
        _day_rebuild(tenant_id=tenant_id, day=day, through_seq=through_seq)


def _rollup_batch(*, tenant_id: str, through_seq: int | None, batch: int) -> int:
    with transaction.atomic():
        # The state row is the tenant's rollup lock: two runs never fold the same records.
        state = UsageRollupState.objects.select_for_update().get(tenant_id=tenant_id)
        head = AuditChainHead.objects.filter(tenant_id=tenant_id).values_list("last_seq", flat=True).first() or 0
        target = min(head, state.through_seq + batch)
        if through_seq is not None:
            target = min(target, through_seq)
        if target <= state.through_seq:
            return 0
        created = RequestLog.objects.filter(
            tenant_id=tenant_id, seq__gt=state.through_seq, seq__lte=target
        ).values_list("created_at", flat=True)
        hours = {hour_floor(moment) for moment in created.iterator(chunk_size=5000)}
        _buckets_rebuild(tenant_id=tenant_id, hours=hours, through_seq=target)
        state.through_seq = target
        state.save(update_fields=["through_seq", "updated_at"])
        return target


def usage_rollup(*, tenant_id: str, through_seq: int | None = None, batch: int = ROLLUP_BATCH) -> int:
    """Fold the tenant's sealed records up to ``through_seq`` (default: all) into rollups.

    Returns the new watermark, or 0 when there was nothing to do. Idempotent, and safe to
    run concurrently or out of order: runs serialise on the tenant's state row, and a run
    whose ``through_seq`` is behind the watermark does nothing.
    """
    UsageRollupState.objects.get_or_create(tenant_id=tenant_id)
    reached = 0
    while moved := _rollup_batch(tenant_id=tenant_id, through_seq=through_seq, batch=batch):
        reached = moved
    return reached


def usage_rollup_rebuild(*, tenant_id: str, since: datetime, until: datetime) -> int:
    """Recompute every bucket of ``[since, until)`` from the records at the current watermark.

    For operators (a bug fixed, a price corrected in the records): the result is the same
    as if the rollups had been built from scratch. Records deleted by retention are gone
    from the recomputed buckets too. Returns how many hours were recomputed.
    """
    UsageRollupState.objects.get_or_create(tenant_id=tenant_id)
    with transaction.atomic():
        state = UsageRollupState.objects.select_for_update().get(tenant_id=tenant_id)
        start, end = hour_floor(since), until
        stamps = RequestLog.objects.filter(
            tenant_id=tenant_id, created_at__gte=start, created_at__lt=end, seq__lte=state.through_seq
        ).values_list("created_at", flat=True)
        hours = {hour_floor(moment) for moment in stamps.iterator(chunk_size=5000)}
        hours |= set(
            UsageRollup.objects.filter(
                tenant_id=tenant_id, granularity=Granularity.HOUR, bucket_start__gte=start, bucket_start__lt=end
            ).values_list("bucket_start", flat=True)
        )
        _buckets_rebuild(tenant_id=tenant_id, hours=hours, through_seq=state.through_seq)
        return len(hours)


def usage_rollup_due() -> list[str]:
    """Tenants whose chain has moved past their rollup watermark."""
    watermarks = dict(UsageRollupState.objects.values_list("tenant_id", "through_seq"))
    heads = AuditChainHead.objects.filter(last_seq__gt=0).values_list("tenant_id", "last_seq")
    return sorted(tenant_id for tenant_id, last_seq in heads if last_seq > watermarks.get(tenant_id, 0))


# --- compliance reports ---


@transaction.atomic
def report_create(*, tenant_id: str, actor: Actor, framework: str, since: datetime, until: datetime) -> Report:
    """Record a report request and queue its build once the request is committed."""
    if framework not in Framework.values:
        raise ValidationError({"framework": f"must be one of {', '.join(Framework.values)}"})
    if since >= until:
        raise ValidationError({"until": "must be after since"})
    report = Report.objects.create(tenant_id=tenant_id, framework=framework, since=since, until=until)
    event_record(
        tenant_id=tenant_id, actor=actor, action="report.requested", object_type="report", object_id=report.id,
        changes={
            "framework": {"before": None, "after": framework},
            "since": {"before": None, "after": since.isoformat()},
            "until": {"before": None, "after": until.isoformat()},
        },
    )  # fmt: skip
    # After commit: a worker on another connection must find the row.
    transaction.on_commit(lambda: _report_enqueue(report.id))
    return report


def _report_enqueue(report_id: str) -> None:
    from analytics.tasks import report_build as report_build_task

    try:
        report_build_task.delay(report_id)
    except Exception:
        # The broker is down: say so on the report rather than leave it pending for ever.
        logger.exception("report %s could not be queued", report_id)
        report_fail(report_id=report_id, error="the report could not be queued; request it again")


@transaction.atomic
def report_delete(*, report: Report, actor: Actor) -> None:
    event_record(
        tenant_id=report.tenant_id, actor=actor, action="report.deleted", object_type="report", object_id=report.id,
        changes={"framework": {"before": report.framework, "after": None}},
    )  # fmt: skip
    report.delete()


def report_build(*, report_id: str) -> Report:
    """Compute the findings of a pending report from the tenant's data; idempotent.

    Database errors propagate (the task retries them); any other failure marks the report
    ``failed`` with a one-line reason and no trace.
    """
    from analytics.compliance import report_findings

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
