"""On PostgreSQL, ``forensics_requestlog`` becomes a table partitioned by month of ``created_at``.

The rows move into one partition per month they cover, from the oldest record's month to
next month, plus a DEFAULT partition (see docs/decisions.md, "Monthly record partitions").
A partitioned table's unique constraints must contain the partition key, so the primary key
becomes ``(id, created_at)`` and ``log_seq_unique`` becomes ``(tenant_id, seq, created_at)``;
Django's model state keeps ``id`` as the primary key (every lookup by id still works) and is
left as it is, like the SQL-only indexes of 0004 and 0006. Every other index of the table is
read from the catalog and declared again on the parent, and so is the append-only trigger of
0003: declared there, both reach every partition, including the ones made later by
``forensics.partitions``.

The rows are copied once (a maintenance window on a large table: docs/deployment.md). The
migration is reversible: backwards, the rows go back into one plain table with the old keys.
SQLite keeps its one table: both directions are no-ops there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import migrations

TABLE = "forensics_requestlog"
STAGING = "forensics_requestlog_unpartitioned"
DEFAULT_PARTITION = "forensics_requestlog_default"
TRIGGER = (
    f"CREATE TRIGGER aidgate_requestlog_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION aidgate_requestlog_guard()"
)


def _month(moment: datetime, months: int = 0) -> datetime:
    moment = moment.astimezone(UTC)
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _plain_indexes(cursor) -> list[str]:
    """The definitions of the table's indexes that are not a constraint's, as PostgreSQL prints them."""
    cursor.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass) ORDER BY indexname",
        [TABLE, TABLE],
    )
    # A partitioned table prints its indexes "ON ONLY" it, which would not reach the partitions.
    return [definition.replace(" ON ONLY ", " ON ") for (definition,) in cursor.fetchall()]


def _month_partitions_make(cursor) -> None:
    """The DEFAULT partition and one a month from the oldest staged record's to next month's."""
    cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
    cursor.execute(f"SELECT min(created_at) FROM {STAGING}")  # noqa: S608 (constants)
    now = datetime.now(UTC)
    oldest = cursor.fetchone()[0] or now
    start, last = _month(min(oldest, now)), _month(now, 1)
    while start <= last:
        end = _month(start, 1)
        cursor.execute(
            f"CREATE TABLE {TABLE}_y{start:%Y}m{start:%m} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        start = end


def _table_rebuild(schema_editor, *, partitioned: bool) -> None:
    """Copy the records into a new table of the other kind, with the keys that kind allows
    (a partitioned table's unique constraints must hold ``created_at``), the same indexes and
    the append-only trigger. The old table (with its partitions, going back) is dropped."""
    if schema_editor.connection.vendor != "postgresql":
        return
    keys = ", created_at" if partitioned else ""
    with schema_editor.connection.cursor() as cursor:
        indexes = _plain_indexes(cursor)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {STAGING}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {STAGING} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
            + (" PARTITION BY RANGE (created_at)" if partitioned else "")
        )
        if partitioned:
            _month_partitions_make(cursor)
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {STAGING}")  # noqa: S608 (constants)
        cursor.execute(f"DROP TABLE {STAGING}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id{keys})")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT log_seq_unique UNIQUE (tenant_id, seq{keys})")
        for definition in indexes:
            cursor.execute(definition)
        cursor.execute(TRIGGER)


def partition(apps, schema_editor) -> None:
    _table_rebuild(schema_editor, partitioned=True)


def unpartition(apps, schema_editor) -> None:
    _table_rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [("forensics", "0007_record_cost_unpriced")]

    operations = [migrations.RunPython(partition, unpartition)]
