"""Migrations that change how rollups are kept fold the records again instead of trusting old rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.support.migrations import migrate_to

BEFORE = [("analytics", "0002_usage_rollup_breakdowns")]
AFTER = [("analytics", "0003_agent_rollups_from_8_hours")]


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
