"""Migration proxy.0004 drops the price rows every tenant was seeded with and never changed, so
the list prices are no longer shadowed by stale copies; rows a tenant wrote or edited stay."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tenants.models import Tenant
from tests.support.migrations import migrate_to

BEFORE = [("proxy", "0003_model_price_cached_input"), ("forensics", "0006_log_endpoint_index")]
AFTER = [("proxy", "0004_drop_unedited_seeded_prices")]


@pytest.mark.django_db(transaction=True)
def test_it_drops_unedited_seeds_and_keeps_what_a_tenant_wrote():
    apps = migrate_to(BEFORE)
    price, event = apps.get_model("proxy", "ModelPrice"), apps.get_model("forensics", "Event")
    # The tenants app stays where it is: its current model is the one its table has.
    tenant = Tenant.objects.create(name="Seeded")

    def row(pattern: str, input_price: str, output_price: str, **fields):
        return price.objects.create(tenant_id=tenant.pk, model_pattern=pattern, input_per_million_usd=Decimal(
            input_price), output_per_million_usd=Decimal(output_price), **fields)  # fmt: skip

    row("gpt-4o*", "2.50", "10.00")  # as seeded
    row("mock-*", "0", "0")  # as seeded
    row("gpt-4o-mini*", "0.10", "0.60")  # edited
    row("claude-sonnet-4*", "3.00", "15.00", cached_input_per_million_usd=Decimal("0.3"))  # edited
    written = row("o3*", "2.00", "8.00")  # equal to its seed, but written through the API
    event.objects.create(tenant_id=tenant.pk, actor_type="org_key", action="model_price.updated",
                         object_type="model_price", object_id=str(written.pk))  # fmt: skip
    row("my-model", "1", "1")  # never seeded
    try:
        apps = migrate_to(AFTER)
        kept = apps.get_model("proxy", "ModelPrice").objects.filter(tenant_id=tenant.pk)
        assert sorted(kept.values_list("model_pattern", flat=True)) == [
            "claude-sonnet-4*", "gpt-4o-mini*", "my-model", "o3*",
        ]  # fmt: skip
    finally:
        migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
