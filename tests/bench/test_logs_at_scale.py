"""The logs-at-scale loader on the partitioned records table: rows reach their month
partitions (none DEFAULT) and the indexes it drops for the COPY come back on every partition."""

from __future__ import annotations

import dataclasses

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


def _url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _connect() -> psycopg.Connection:
    return psycopg.connect(_url(), autocommit=True)


def test_it_loads_into_month_partitions_and_rebuilds_every_partitions_indexes():
    shape = LogShape(
        tenant_id="tnt_benchload", app_id="app_b", agent_id="ag_b", provider_id="prv_b", policy_id="pol_b", rows=3000
    )
    with _connect() as conn:
        parent_indexes = conn.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'forensics_requestlog'::regclass"
        ).fetchone()[0]
        load = rows_load(conn, _url(), shape)
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


def test_a_second_load_adds_to_the_first_with_every_chain_numbered_on_without_a_gap():
    """The COPY runs in ranges side by side; each tenant's chain positions still run 1…n in
    time order across the ranges and both loads, and the chain heads end on the last."""
    shape = LogShape(
        tenant_id="tnt_benchload", app_id="app_b", agent_id="ag_b", provider_id="prv_b", policy_id="pol_b", rows=3001
    )
    with _connect() as conn:
        rows_load(conn, _url(), shape)
        rows_load(conn, _url(), dataclasses.replace(shape, rows=5003), 3001)
        chains = conn.execute(
            "SELECT tenant_id, count(*), min(seq), max(seq), count(DISTINCT seq) FROM forensics_requestlog "
            "GROUP BY tenant_id"
        ).fetchall()
        heads = dict(conn.execute("SELECT tenant_id, last_seq FROM forensics_auditchainhead").fetchall())
        out_of_order = conn.execute(
            "SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (PARTITION BY tenant_id ORDER BY seq) "
            "AS back FROM forensics_requestlog WHERE id < 'req_bench00000003001') AS t WHERE back"
        ).fetchone()[0]
        ids = conn.execute("SELECT count(DISTINCT id) FROM forensics_requestlog").fetchone()[0]
    assert ids == 8004
    assert sum(n for _, n, *_ in chains) == 8004
    for tenant_id, n, low, high, distinct in chains:
        assert (low, high, distinct) == (1, n, n), tenant_id
        assert heads[tenant_id] == n, tenant_id
    assert out_of_order == 0
    assert dict((t, n) for t, n, *_ in chains)["tnt_benchload"] > 0.7 * 8004
