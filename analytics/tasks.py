"""Thin Celery tasks of the analytics side: ids in, a service does the work.

Database errors (a restart, a lock timeout) are retried with a growing countdown; anything
else is the service's to record (a report is marked failed) or a bug to surface.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from analytics.services import report_build as report_build_service
from analytics.services import report_fail, usage_rollup, usage_rollup_due

TRANSIENT = (OperationalError, InterfaceError)
MAX_RETRIES = 5
# A rollup task begins no batch after this long: a batch of a busy tenant under load takes tens
# of seconds, and one cut by the soft time limit (CELERY_TASK_SOFT_TIME_LIMIT) is lost.
ROLLUP_TASK_SECONDS = settings.CELERY_TASK_SOFT_TIME_LIMIT / 2


def _countdown(retries: int) -> int:
    return min(5 * 2**retries, 300)


@shared_task(name="analytics.tasks.usage_rollup_all", ignore_result=True, time_limit=120, soft_time_limit=100)
def usage_rollup_all() -> int:
    """The beat entry (every minute): one rollup task per tenant whose chain moved on."""
    due = usage_rollup_due()
    for tenant_id in due:
        usage_rollup_tenant.delay(tenant_id)
    return len(due)


@shared_task(bind=True, name="analytics.tasks.usage_rollup_tenant", ignore_result=True, max_retries=MAX_RETRIES)
def usage_rollup_tenant(self, tenant_id: str) -> int:
    try:
        return usage_rollup(tenant_id=tenant_id, seconds=ROLLUP_TASK_SECONDS)
    except TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=_countdown(self.request.retries)) from exc


@shared_task(
    bind=True, name="analytics.tasks.report_build", ignore_result=True, max_retries=MAX_RETRIES,
    time_limit=900, soft_time_limit=840,
)  # fmt: skip
def report_build(self, report_id: str) -> str:
    try:
        return report_build_service(report_id=report_id).status
    except TRANSIENT as exc:
        if self.request.retries >= MAX_RETRIES:
            report_fail(report_id=report_id, error="the database was unavailable; request the report again")
            raise
        raise self.retry(exc=exc, countdown=_countdown(self.request.retries)) from exc
