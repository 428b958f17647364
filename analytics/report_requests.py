"""Requesting a compliance report: its record, its event, and its build queued on a worker.

Above both :mod:`analytics.services` (which builds and fails reports) and
:mod:`analytics.tasks` (the Celery entry points that call those services), so the task
module is imported by what queues it and never by what it runs.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from analytics.models import Framework, Report
from analytics.services import report_fail
from analytics.tasks import report_build as report_build_task
from core.actors import Actor
from forensics.services import event_record

logger = logging.getLogger(__name__)


@transaction.atomic
def report_create(*, tenant_id: str, actor: Actor, framework: str, since: datetime, until: datetime) -> Report:
    """Record a report request and queue its build once the request is committed."""
    if framework not in Framework.values:
        raise ValidationError({"framework": f"must be one of {', '.join(Framework.values)}"})
    if since >= until:
        raise ValidationError({"until": "must be after since"})
    report = Report.objects.create(tenant_id=tenant_id, framework=framework, since=since, until=until)
    event_record(
        report,
        actor=actor,
        action="report.requested",
        changes={
            "framework": {"before": None, "after": framework},
            "since": {"before": None, "after": since.isoformat()},
            "until": {"before": None, "after": until.isoformat()},
        },
    )
    # After commit: a worker on another connection must find the row.
    transaction.on_commit(lambda: _report_enqueue(report.id))
    return report


def _report_enqueue(report_id: str) -> None:
    try:
        report_build_task.delay(report_id)
    except Exception:
        # The broker is down: say so on the report rather than leave it pending for ever.
        logger.exception("report %s could not be queued", report_id)
        report_fail(report_id=report_id, error="the report could not be queued; request it again")
