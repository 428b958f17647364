"""Migrations that change how rollups are kept fold records again instead of trusting old rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from analytics.api.serializers import usage_body
from analytics.buckets import OPEN_HOURS
from analytics.models import Breakdown, UsageRollup, UsageRollupState
from analytics.selectors import usage_summary
from analytics.services import usage_rollup
from forensics.models import RequestLog
from forensics.sealing import tenant_chain_seal
from tests import factories
from tests.analytics.support import answered_usage, direct_usage, record
from tests.support.migrations import migrate_to

BEFORE = [("analytics", "0002_usage_rollup_breakdowns")]
AFTER = [("analytics", "0003_agent_rollups_from_8_hours")]
BEFORE_OPEN_HOURS = [("analytics", "0004_rollup_unpriced_requests")]
AFTER_OPEN_HOURS = [("analytics", "0005_agent_hours_while_open")]


@pytest.mark.django_db(transaction=True)
def test_it_deletes_the_agent_day_rows_and_folds_every_tenant_again():
    apps = migrate_to(BEFORE)
    rollup, state = apps.get_model("analytics", "UsageRollup"), apps.get_model("analytics", "UsageRollupState")
    day = datetime(2026, 11, 22, tzinfo=UTC)
    for breakdown in ("total", "agent", "agent_model", "agent_app"):
        rollup.objects.create(
            tenant_id="tn_a", span=24, bucket_start=day, breakdown=breakdown, agent_id="ag_1", value="m",
            requests=3, through_seq=9, computed_at=day,
        )  # fmt: skip
    state.objects.create(tenant_id="tn_a", through_seq=9, closed_until=day)
    try:
        apps = migrate_to(AFTER)
        rollup, state = apps.get_model("analytics", "UsageRollup"), apps.get_model("analytics", "UsageRollupState")
        assert sorted(rollup.objects.values_list("breakdown", flat=True)) == ["agent", "total"]
        assert list(state.objects.values_list("tenant_id", "through_seq", "closed_until")) == [("tn_a", 0, None)]
    finally:
        migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_it_moves_the_watermark_back_before_the_open_8_hours_so_their_hours_are_folded_again(monkeypatch):
    """Hours folded before agents had hour rows: answers stay exact, the next run adds the rows."""
    now = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    tenant = factories.make_tenant()
    for hours_ago in (24, 6, 5, 4):  # 07:30 is in the closed block [00:00, 08:00), 08:30 opens [08:00, 16:00)
        moment = now - timedelta(hours=hours_ago)
        for model in ("m1", "m2"):
            record(tenant.id, moment, agent_id="ag_1", model_requested=model)
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)
    # As the rollups stood before: no hour rows of agents by model or app.
    UsageRollup.objects.filter(tenant_id=tenant.id, span=1, breakdown__in=OPEN_HOURS).delete()
    first_open = RequestLog.objects.filter(tenant_id=tenant.id, created_at__gte=datetime(2026, 3, 2, 8, tzinfo=UTC))
    first_open = min(first_open.values_list("seq", flat=True))
    try:
        migrate_to(BEFORE_OPEN_HOURS)
        migrate_to(AFTER_OPEN_HOURS)

        assert UsageRollupState.objects.get(tenant_id=tenant.id).through_seq == first_open - 1 == 4
        since = now - timedelta(days=30)
        for group_by in ("model", "app"):
            summary = usage_summary(tenant_id=tenant.id, since=since, until=now, group_by=group_by, agent_id="ag_1")
            expected = direct_usage(tenant.id, since, now, group_by, "ag_1")
            assert answered_usage(usage_body(summary), group_by) == expected
        usage_rollup(tenant_id=tenant.id)
        hours = UsageRollup.objects.filter(tenant_id=tenant.id, span=1, breakdown=Breakdown.AGENT_MODEL)
        assert sorted(hours.values_list("bucket_start", "value", "requests")) == [
            (datetime(2026, 3, 2, hour, tzinfo=UTC), model, 1) for hour in (8, 9) for model in ("m1", "m2")
        ]
    finally:
        migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
