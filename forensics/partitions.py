"""Monthly range partitions of the request records on PostgreSQL (docs/forensics.md, "Partitions").

``forensics_requestlog`` is partitioned by ``created_at`` into one partition per calendar month
(UTC), named ``forensics_requestlog_yYYYYmMM``, plus a DEFAULT partition that takes any row
no month partition covers, so that an insert never fails for want of a partition. The
indexes and the append-only trigger are declared on the parent and so reach every partition,
including the ones created here later. SQLite (the embedded default) keeps one table, and
every function here is a no-op there.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import OperationalError, connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)
PARENT = "forensics_requestlog"
DEFAULT_PARTITION = f"{PARENT}_default"
# Partitions made ahead of time by the maintenance task: the current month and the next two,
# so that a beat that stops for up to two months still leaves every insert a month partition.
MONTHS_AHEAD = 2
PARTITION_LOCK_TIMEOUT = "5s"
_NAME = re.compile(rf"^{PARENT}_y(\d{{4}})m(\d{{2}})$")


@dataclass(frozen=True, slots=True)
class Partition:
    """One month partition: its rows have ``start <= created_at < end``."""

    name: str
    start: datetime
    end: datetime


def month_start(moment: datetime, months: int = 0) -> datetime:
    """The first instant (UTC) of the month of ``moment``, moved by ``months``."""
    moment = moment.astimezone(UTC)
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_of(start: datetime) -> Partition:
    return Partition(f"{PARENT}_y{start:%Y}m{start:%m}", start, month_start(start, 1))


def records_partitioned() -> bool:
    """Whether the records table is partitioned (PostgreSQL after migration 0008)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [PARENT])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partition_list() -> list[Partition]:
    """The month partitions, oldest first (the DEFAULT partition is not one of them).

    Bounds come from the names, which only :func:`partition_create` and migration 0008 give;
    a partition someone attached under another name is left alone (never dropped)."""
    if not records_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = [match for name in names if (match := _NAME.match(name))]
    return sorted((partition_of(datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)) for m in months), key=lambda p: p.start)


def partition_create(start: datetime) -> Partition:
    """Create the month partition starting at ``start`` unless it exists; rows of that month
    that went to the DEFAULT partition meanwhile move into it in the same transaction."""
    partition = partition_of(month_start(start))
    name = connection.ops.quote_name(partition.name)
    bounds = "FOR VALUES FROM (%s) TO (%s)"
    with transaction.atomic(), connection.cursor() as cursor:
        # Making a partition locks the records table exclusively for a moment, and a lock
        # queued behind a long read (an export) would hold up every insert behind it: past
        # the timeout the statement fails, and the hourly task tries again (months ahead).
        cursor.execute(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
        # The DEFAULT partition is checked for rows of the new month either way; locking it
        # first keeps an insert from landing there between the check and the move, and a
        # second maintainer from making the same partition meanwhile.
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partition.name])
        if cursor.fetchone()[0]:
            return partition
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE created_at >= %s AND created_at < %s)",  # noqa: S608
            [partition.start, partition.end],
        )
        if not cursor.fetchone()[0]:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {PARENT} {bounds}", [partition.start, partition.end])
            return partition
        # Moving a sealed row is a delete and an insert of the same row: the append-only
        # trigger lets it through only under the flag retention sets, in this transaction.
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute("SET LOCAL aidgate.retention = 'on'")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE created_at >= %s AND created_at < %s "  # noqa: S608
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            [partition.start, partition.end],
        )
        cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {bounds}", [partition.start, partition.end])
    return partition


def partitions_ensure(*, now: datetime | None = None, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make sure the current month and the next ``ahead`` months have a partition; returns
    the names of the ones this call created (none on SQLite or an unpartitioned table)."""
    if not records_partitioned():
        return []
    now = now or timezone.now()
    existing = {p.name for p in partition_list()}
    created = []
    for months in range(ahead + 1):
        partition = partition_of(month_start(now, months))
        if partition.name in existing:
            continue
        try:
            partition_create(partition.start)
        except OperationalError as error:
            logger.warning("partition %s not made this run: %s", partition.name, error)
            continue
        created.append(partition.name)
    return created
