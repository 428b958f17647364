"""Month partitions of the request records on PostgreSQL: pruning, the DEFAULT partition,
the append-only trigger on every partition, retention by partition with the chain still
verifying, the partition-ahead task, and migration 0008 both ways on a table with rows."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.selectors import end_user_page
from forensics import partitions, sealing
from forensics.models import AuditCheckpoint, Event, RequestLog
from forensics.partitions import (
    DEFAULT_PARTITION,
    month_start,
    partition_create,
    partition_list,
    partition_of,
    records_partitioned,
)
from forensics.sealing import audit_chain_verify, audit_retention_all, audit_seal_all
from forensics.selectors import LogFilters, log_list, log_page
from forensics.tasks import records_partitions_ensure
from tests.forensics.support import make_logs
from tests.forensics.test_chain import make_records, offline_verdict
from tests.support.requirements import needs_postgresql

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgresql]


def _sql(statement: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _drop(*names: str) -> None:
    for name in names:
        _sql(f"DROP TABLE IF EXISTS {name}")


def partition_holding(record_id: str) -> str:
    return _sql("SELECT tableoid::regclass::text FROM forensics_requestlog WHERE id = %s", [record_id])[0][0]


@pytest.fixture
def past_months():
    """Partitions for the four months before the current one, dropped again afterwards."""
    now = timezone.now()
    partitions = [partition_create(month_start(now, -months)) for months in (4, 3, 2, 1)]
    yield partitions
    _drop(*(p.name for p in partitions))


def test_the_migration_partitioned_the_table_with_this_and_next_month():
    names = {p.name for p in partition_list()}
    now = timezone.now()
    assert records_partitioned()
    assert {partition_of(month_start(now)).name, partition_of(month_start(now, 1)).name} <= names


def test_a_time_bounded_logs_query_reads_only_the_partitions_of_its_window(tenant, past_months):
    since = past_months[-1].start + timedelta(days=1)  # last month, and this month
    plan = log_list(tenant_id=tenant.id, filters=LogFilters(since=since, model="gpt-4o")).explain()
    this_month = partition_of(month_start(timezone.now())).name
    assert past_months[-1].name in plan
    assert this_month in plan
    assert not any(p.name in plan for p in past_months[:-1])
    # Unbounded, the same query has every partition in its plan.
    unbounded = log_list(tenant_id=tenant.id, filters=LogFilters(model="gpt-4o")).explain()
    assert all(p.name in unbounded for p in past_months)


def test_a_sealing_pass_reads_only_the_partitions_of_its_window(tenant, past_months):
    since = timezone.now() - timedelta(days=1)
    pending = RequestLog.objects.filter(sealed_at__isnull=True, created_at__gte=since).values("tenant_id")
    plan = pending.explain()
    assert not any(p.name in plan for p in past_months[:-1])


def test_records_at_a_month_boundary_land_in_their_own_months(tenant, past_months):
    boundary = past_months[-1].start
    before, at = make_logs(tenant.id, 2, start=boundary - timedelta(microseconds=1), step=timedelta(microseconds=1))
    assert partition_holding(before.id) == past_months[-2].name
    assert partition_holding(at.id) == past_months[-1].name


def test_a_record_without_a_month_partition_lands_in_default_and_moves_when_it_is_made(tenant):
    month = month_start(timezone.now(), -7)
    partition = partition_of(month)
    _drop(partition.name)
    try:
        (record,) = make_records(tenant.id, 1, start=month + timedelta(days=3))
        assert audit_seal_all() == 1
        assert partition_holding(record.id) == DEFAULT_PARTITION
        partition_create(month)
        assert partition_holding(record.id) == partition.name
        assert not _sql(f"SELECT 1 FROM {DEFAULT_PARTITION}")  # noqa: S608
        assert audit_chain_verify(tenant_id=tenant.id).valid
    finally:
        _drop(partition.name)


def test_a_partition_refuses_update_and_delete_of_sealed_records_like_the_parent(tenant):
    (record,) = make_records(tenant.id, 1)
    audit_seal_all()
    partition = partition_holding(record.id)
    assert partition != "forensics_requestlog"
    # A partition name read back from the catalog, not input.
    for statement in (
        f"UPDATE {partition} SET status_code = 1 WHERE id = %s",  # noqa: S608
        f"DELETE FROM {partition} WHERE id = %s",  # noqa: S608
    ):
        with pytest.raises(DatabaseError, match=r"append-only|only by retention"), transaction.atomic():
            _sql(statement, [record.id])
    assert RequestLog.objects.get(pk=record.id).status_code == 200


def test_retention_drops_a_partition_whose_records_all_expired_and_the_chain_verifies(tenant, outsider, past_months):
    oldest, older = past_months[0], past_months[1]
    make_records(tenant.id, 4, start=oldest.start + timedelta(days=1), step=timedelta(hours=1))
    make_records(outsider.id, 2, start=oldest.start + timedelta(days=2), step=timedelta(hours=1))
    make_records(tenant.id, 3, start=older.start + timedelta(days=1), step=timedelta(hours=1))
    make_records(tenant.id, 3, start=timezone.now() - timedelta(hours=2), step=timedelta(minutes=1))
    audit_seal_all()

    # The outsider keeps its records for longer: the oldest partition stays, the tenant's
    # records in it go by row, and the next partition (the tenant's only) goes whole.
    assert audit_retention_all(retention_days={tenant.id: 45, outsider.id: 400}) == 7
    names = {p.name for p in partition_list()}
    assert older.name not in names
    assert oldest.name in names
    assert RequestLog.objects.filter(tenant_id=tenant.id).count() == 3
    assert RequestLog.objects.filter(tenant_id=outsider.id).count() == 2
    prune = AuditCheckpoint.objects.get(tenant_id=tenant.id, kind="prune")
    assert (prune.seq, prune.records) == (7, 7)
    assert not AuditCheckpoint.objects.filter(tenant_id=outsider.id, kind="prune").exists()
    pruned = Event.objects.get(tenant_id=tenant.id, action="logs.pruned")
    assert pruned.changes["partitions_dropped"]["before"] == [older.name]
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.checked) == (True, 3)
    assert offline_verdict(tenant.id).valid
    assert audit_chain_verify(tenant_id=outsider.id).valid


def test_retention_keeps_a_partition_holding_an_unsealed_record(tenant, past_months):
    older = past_months[1]
    make_records(tenant.id, 3, start=older.start + timedelta(days=1), step=timedelta(hours=1))
    audit_seal_all()
    make_records(tenant.id, 1, start=older.start + timedelta(days=2))  # written after the seal
    assert audit_retention_all(retention_days={tenant.id: 45}) == 3
    assert older.name in {p.name for p in partition_list()}
    assert RequestLog.objects.filter(tenant_id=tenant.id, sealed_at__isnull=True).count() == 1
    assert audit_chain_verify(tenant_id=tenant.id).valid


def test_the_task_makes_the_next_two_months_partitions_ahead():
    ahead = partition_of(month_start(timezone.now(), 2))
    _drop(ahead.name)
    assert records_partitions_ensure.delay().get() == 1
    assert ahead.name in {p.name for p in partition_list()}
    assert records_partitions_ensure.delay().get() == 0


def test_the_migration_moves_rows_into_partitions_and_back(tenant):
    make_records(tenant.id, 3, start=timezone.now() - timedelta(days=70), step=timedelta(days=30))
    audit_seal_all()
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("forensics", "0007_record_cost_unpriced")])
        assert not records_partitioned()
        assert RequestLog.objects.filter(tenant_id=tenant.id).count() == 3
        assert _sql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'forensics_requestlog'::regclass")[0][0] == 1

        executor = MigrationExecutor(connection)
        executor.migrate([("forensics", "0008_partition_records_by_month")])
        assert records_partitioned()
        holders = {partition_holding(r.id) for r in RequestLog.objects.filter(tenant_id=tenant.id)}
        assert len(holders) == 3
        assert DEFAULT_PARTITION not in holders
        assert audit_chain_verify(tenant_id=tenant.id).valid
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_first_logs_page_plans_only_the_recent_partitions(tenant, past_months):
    make_logs(tenant.id, 25, start=timezone.now() - timedelta(minutes=30))
    with CaptureQueriesContext(connection) as captured:
        page = log_page(tenant_id=tenant.id, limit=20)
    assert page.has_more
    (query,) = [q["sql"] for q in captured.captured_queries if "forensics_requestlog" in q["sql"]]
    plan = "\n".join(row[0] for row in _sql(f"EXPLAIN {query}"))
    assert not any(p.name in plan for p in past_months[:-1])


def test_retention_behind_a_long_read_leaves_the_partition_and_deletes_by_row(tenant, past_months, monkeypatch):
    older = past_months[1]
    make_records(tenant.id, 3, start=older.start + timedelta(days=1), step=timedelta(hours=1))
    make_records(tenant.id, 2, start=timezone.now() - timedelta(hours=1))
    audit_seal_all()
    monkeypatch.setattr(sealing, "PARTITION_DROP_LOCK_TIMEOUT", "200ms")
    db = connection.settings_dict
    with psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or None) as reader:
        # An export in progress: its transaction holds every partition until it ends.
        reader.execute("SELECT count(*) FROM forensics_requestlog").fetchone()
        assert audit_retention_all(retention_days={tenant.id: 45}) == 3
        reader.rollback()
    assert older.name in {p.name for p in partition_list()}
    prune = AuditCheckpoint.objects.get(tenant_id=tenant.id, kind="prune")
    assert (prune.seq, prune.records) == (3, 3)
    assert audit_chain_verify(tenant_id=tenant.id).valid


def test_making_a_partition_behind_a_long_read_gives_up_and_the_next_run_makes_it(monkeypatch):
    ahead = partition_of(month_start(timezone.now(), 2))
    _drop(ahead.name)
    monkeypatch.setattr(partitions, "PARTITION_LOCK_TIMEOUT", "200ms")
    db = connection.settings_dict
    with psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or None) as reader:
        reader.execute("SELECT count(*) FROM forensics_requestlog").fetchone()
        assert partitions.partitions_ensure() == []
        reader.rollback()
    assert partitions.partitions_ensure() == [ahead.name]


def test_a_page_after_a_cursor_plans_only_the_recent_partitions_below_the_cursor(tenant, past_months):
    make_logs(tenant.id, 3, start=past_months[0].start + timedelta(days=1))
    make_logs(tenant.id, 45, start=timezone.now() - timedelta(minutes=30))
    first = log_page(tenant_id=tenant.id, limit=20)
    with CaptureQueriesContext(connection) as captured:
        page = log_page(tenant_id=tenant.id, limit=20, after=first.items[-1].id)
    assert page.has_more
    queries = [q["sql"] for q in captured.captured_queries if "forensics_requestlog" in q["sql"]]
    assert len(queries) == 2  # the cursor in the last month, then its page in the day below it
    plans = ["\n".join(row[0] for row in _sql(f"EXPLAIN {query}")) for query in queries]
    assert not any(p.name in plan for p in past_months[:-1] for plan in plans)
    # The page stops at the cursor's time: next month's partition is not in its plan either.
    assert partition_of(month_start(timezone.now(), 1)).name not in plans[1]


def test_a_users_last_record_is_read_from_the_recent_partitions_only(tenant, past_months):
    now = timezone.now()
    make_logs(tenant.id, 2, start=past_months[0].start + timedelta(days=1), user="ann@example.com")
    make_logs(tenant.id, 2, start=now - timedelta(hours=1), user="ann@example.com")
    make_logs(tenant.id, 2, start=now - timedelta(hours=2), user="bob@example.com")
    with CaptureQueriesContext(connection) as captured:
        items, _ = end_user_page(tenant_id=tenant.id, limit=10)
    assert [item["user"] for item in items] == ["ann@example.com", "bob@example.com"]
    (query,) = [q["sql"] for q in captured.captured_queries if "WITH RECURSIVE" in q["sql"]]
    plan = [row[0] for row in _sql(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {query}")]
    # The walk over the distinct users probes every partition ('"user" > '); a probe for a
    # user's last record ('"user" = ') reads an older month only when the last month had none.
    old = [p.name for p in past_months[:-1]]
    for index, line in enumerate(plan):
        if not any(f" on {name}" in line for name in old):
            continue
        condition = next(c for c in plan[index + 1 :] if "Cond:" in c or "Filter:" in c)
        if '"user" = ' in condition or "user = " in condition:
            assert "never executed" in line, "\n".join(plan)
    assert any(f" on {old[0]}" in line and "never executed" in line for line in plan), "\n".join(plan)


def test_no_partition_keeps_a_prefix_index_on_record_ids():
    """Migration 0009: ids are looked up whole (the primary key), never by prefix, so neither
    the parent nor a partition made later carries Django's ``varchar_pattern_ops`` index."""
    made = partition_create(month_start(timezone.now(), 7))
    try:
        definitions = _sql(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN (SELECT relid::regclass::text "
            "FROM pg_partition_tree('forensics_requestlog'))"
        )
        assert [d for (d,) in definitions if "UNIQUE INDEX forensics_requestlog_pkey" in d]
        assert not [d for (d,) in definitions if "pattern_ops" in d]
    finally:
        _drop(made.name)
