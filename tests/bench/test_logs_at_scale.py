"""The logs-at-scale loader on the partitioned records table: rows reach their month
partitions (none DEFAULT) and the indexes it drops for the COPY come back on every partition."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from bench.log_rows import LogShape
from bench.logs_at_scale import rows_load
from forensics.partitions import DEFAULT_PARTITION
from tests.support.requirements import needs_postgresql

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgresql]

PARTITION_INDEXES = """
SELECT c.relname, count(i.indexrelid) FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisvalid
WHERE h.inhparent = 'forensics_requestlog'::regclass GROUP BY c.relname
"""


def _connect() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None, host=db["HOST"],
        port=db["PORT"] or None, autocommit=True,
    )  # fmt: skip


def test_it_loads_into_month_partitions_and_rebuilds_every_partitions_indexes():
    shape = LogShape(
        tenant_id="tnt_benchload", app_id="app_b", agent_id="ag_b", provider_id="prv_b", policy_id="pol_b", rows=3000
    )
    with _connect() as conn:
        parent_indexes = conn.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'forensics_requestlog'::regclass"
        ).fetchone()[0]
        load = rows_load(conn, shape)
        holders = dict(
            conn.execute("SELECT tableoid::regclass::text, count(*) FROM forensics_requestlog GROUP BY 1").fetchall()
        )
        per_partition = dict(conn.execute(PARTITION_INDEXES).fetchall())
        after = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'forensics_requestlog'::regclass")
        parent_after = after.fetchone()[0]
    assert sum(holders.values()) == 3000
    assert DEFAULT_PARTITION not in holders
    assert parent_after == parent_indexes
    assert set(per_partition.values()) == {parent_indexes}
    assert load.table_mb > 0
    assert load.indexes_mb > 0
