"""The thin tasks: the beat entry, the fan-out per tenant, retries of database errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from analytics import tasks
from analytics.models import Report, ReportStatus, UsageRollupState
from config.celery import app as celery_app
from forensics.sealing import tenant_chain_seal
from tests.analytics.support import record

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_it_schedules_usage_rollups_every_minute():
    entry = celery_app.conf.beat_schedule["usage-rollup"]

    assert (entry["task"], entry["schedule"]) == ("analytics.tasks.usage_rollup_all", 60.0)
    assert entry["task"] in celery_app.tasks


def test_it_rolls_up_every_tenant_whose_chain_moved(tenant, outsider):
    record(tenant.id, T0)
    record(outsider.id, T0)
    record(outsider.id, T0)
    tenant_chain_seal(tenant_id=tenant.id)
    tenant_chain_seal(tenant_id=outsider.id)

    assert tasks.usage_rollup_all.delay().get() == 2

    watermarks = dict(UsageRollupState.objects.values_list("tenant_id", "through_seq"))
    assert (watermarks[tenant.id], watermarks[outsider.id]) == (1, 2)
    assert tasks.usage_rollup_all.delay().get() == 0


def test_it_retries_a_rollup_on_a_database_error_with_a_countdown(monkeypatch, tenant):
    def unavailable(**kwargs):
        raise OperationalError("database is restarting")

    monkeypatch.setattr(tasks, "usage_rollup", unavailable)
    retries = []
    monkeypatch.setattr(tasks.usage_rollup_tenant, "retry", lambda **kw: retries.append(kw) or Retry())

    with pytest.raises(Retry):
        tasks.usage_rollup_tenant.run(tenant.id)

    assert retries[0]["countdown"] == 5
    assert isinstance(retries[0]["exc"], OperationalError)


def test_it_marks_a_report_failed_once_its_retries_are_spent(monkeypatch, tenant):
    report = Report.objects.create(tenant_id=tenant.id, framework="soc2", since=T0, until=T0 + timedelta(days=1))

    def unavailable(**kwargs):
        raise OperationalError("database is restarting")

    monkeypatch.setattr(tasks, "report_build_service", unavailable)
    tasks.report_build.push_request(retries=tasks.MAX_RETRIES)
    try:
        with pytest.raises(OperationalError):
            tasks.report_build.run(report.id)
    finally:
        tasks.report_build.pop_request()

    report.refresh_from_db()
    assert (report.status, report.error) == (
        ReportStatus.FAILED,
        "the database was unavailable; request the report again",
    )
