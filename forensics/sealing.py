"""Sealing new records into each tenant's hash chain, verifying chains, and retention."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core.actors import SYSTEM
from forensics.canonical import CHAINED_FIELDS, chain_hash, checkpoint_statement, row_document, timestamp_text
from forensics.chain_walk import ChainVerdict, chain_walk
from forensics.models import AuditChainHead, AuditCheckpoint, CheckpointKind, RequestLog
from forensics.partitions import Partition, partition_list
from forensics.services import event_record_raw
from forensics.signing import signing_key, statement_sign
from tenants.models import RETENTION_FLOOR_DAYS

logger = logging.getLogger(__name__)
SEAL_BATCH = 5000
# PostgreSQL's advisory locks are per database, so one fixed key means "this database's
# sealer" ("aidseal" in ASCII).
SEALER_LOCK_KEY = 0x61_6964_7365_616C
# Unsealed records are seconds old: a pass looks at the last day only, which on PostgreSQL
# prunes its searches to the newest month partition or two, and once an hour a pass looks at
# every record (a record written while the sealer was down for longer than the window).
SEAL_WINDOW = timedelta(days=1)
SEAL_FULL_SWEEP_SECONDS = 3600.0
_full_sweep_due = 0.0
# How long retention waits to drop a partition (an ACCESS EXCLUSIVE lock on the records
# table, queued behind any long read such as an export): past it, the partition is left for
# the next run, and its rows are deleted by row as before.
PARTITION_DROP_LOCK_TIMEOUT = "5s"
# A batch's chain values in one statement: one round trip, one trigger check per row. The
# columns travel as comma-joined text rather than as arrays, which Django's client-side
# binding would quote element by element (a large share of the sealer's CPU:
# docs/performance-log.md, 2026-11-23 19:27-20:21).
# No "sealed_at IS NULL" here: it would steer the join onto log_unsealed, which until the next
# vacuum still holds an entry for every record sealed since, instead of the primary key; the
# append-only trigger refuses any sealed row anyway.
LINKS_WRITE_POSTGRESQL = (
    "UPDATE forensics_requestlog AS r SET seq = v.seq, prev_hash = v.prev, chain_hash = v.hash, sealed_at = %s "
    "FROM unnest(string_to_array(%s, ','), string_to_array(%s, ',')::bigint[], string_to_array(%s, ','), "
    "string_to_array(%s, ',')) AS v(id, seq, prev, hash) "
    "WHERE r.id = v.id"
)
# Row by row where there is no unnest (SQLite: in-process, where a statement costs little).
LINKS_WRITE_ROW = (
    "UPDATE forensics_requestlog SET seq = %s, prev_hash = %s, chain_hash = %s, sealed_at = %s "
    "WHERE id = %s AND sealed_at IS NULL"
)


def checkpoint_write(*, tenant_id: str, kind: str, seq: int, chain_hash_value: str, records: int) -> AuditCheckpoint:
    created = timezone.now()
    statement = checkpoint_statement(
        tenant_id=tenant_id, kind=kind, seq=seq, chain_hash_value=chain_hash_value, records=records,
        created_at=timestamp_text(created),
    )  # fmt: skip
    return AuditCheckpoint.objects.create(
        tenant_id=tenant_id, kind=kind, seq=seq, chain_hash=chain_hash_value, records=records, created_at=created,
        signature=statement_sign(statement),
    )  # fmt: skip


class SealerBusy(Exception):
    """Another process holds this database's sealer lock: it is sealing, so this pass stops."""


def sealer_lock_try() -> bool:
    """Take the database's sealer lock for the current transaction, without waiting.

    PostgreSQL only; SQLite is the single-process embedded default, where any sealer may run
    (its write transactions are serial anyway). The transaction-level form keeps the lock
    usable through PgBouncer in transaction pooling, where a session lock could be left
    behind on a server connection nobody will unlock it from.
    """
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEALER_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _head_lock(tenant_id: str) -> tuple[int, str]:
    """Lock the tenant's chain head (creating it on the first seal) and return its end."""
    heads = AuditChainHead.objects.select_for_update().filter(tenant_id=tenant_id)
    end = heads.values_list("last_seq", "last_hash").first()
    if end is None:
        # Once per tenant: get_or_create absorbs a sealer racing to create the same head.
        AuditChainHead.objects.get_or_create(tenant_id=tenant_id)
        end = heads.values_list("last_seq", "last_hash").get()
    return end


def _links_write(ids: list[str], seqs: list[int], prevs: list[str], hashes: list[str], sealed_at) -> None:
    """Write a batch's chain values into rows that are still unsealed."""
    sealed_at = connection.ops.adapt_datetimefield_value(sealed_at)
    joined_ids = ",".join(ids)
    with connection.cursor() as cursor:
        # Ids are prefixed base62 (core.ids) and hashes hex; an id with a comma in it would
        # not survive the join, and takes the row-by-row statement instead.
        if connection.vendor == "postgresql" and joined_ids.count(",") == len(ids) - 1:
            cursor.execute(
                LINKS_WRITE_POSTGRESQL,
                [sealed_at, joined_ids, ",".join(map(str, seqs)), ",".join(prevs), ",".join(hashes)],
            )
        else:
            cursor.executemany(
                LINKS_WRITE_ROW, list(zip(seqs, prevs, hashes, [sealed_at] * len(ids), ids, strict=True))
            )
        written = cursor.rowcount
    if written != len(ids):
        # Under the head lock nothing else seals these rows; a mismatch means the table was
        # changed behind the sealer's back, and the whole batch is rolled back.
        raise RuntimeError(f"sealing wrote {written} of {len(ids)} records")


def tenant_chain_seal(
    *, tenant_id: str, batch: int = SEAL_BATCH, sole: bool = False, since: datetime | None = None
) -> int:
    """Give the tenant's unsealed records their place in the chain; returns how many.

    With ``sole`` the batch first takes the database's sealer lock and raises
    :class:`SealerBusy` instead of waiting when another process holds it. With ``since``
    only records created at or after it are looked at.
    """
    with transaction.atomic():
        if sole and not sealer_lock_try():
            raise SealerBusy
        # The head row is the tenant's chain lock: two sealers never extend one chain twice.
        seq, prev = _head_lock(tenant_id)
        # Plain rows of the chained fields only, through the fields' own converters, so the
        # document is the one the verifiers build from model instances; log_unsealed serves it.
        pending = RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=True)
        if since is not None:
            pending = pending.filter(created_at__gte=since)
        rows = pending.order_by("created_at", "id").values_list(*CHAINED_FIELDS)[:batch]
        ids: list[str] = []
        seqs: list[int] = []
        prevs: list[str] = []
        hashes: list[str] = []
        for row in rows:
            seq += 1
            ids.append(row[0])
            seqs.append(seq)
            prevs.append(prev)
            prev = chain_hash(prev, seq, row_document(row))
            hashes.append(prev)
        if not ids:
            return 0
        now = timezone.now()
        _links_write(ids, seqs, prevs, hashes, now)
        AuditChainHead.objects.filter(tenant_id=tenant_id).update(last_seq=seq, last_hash=prev, updated_at=now)
        checkpoint_write(
            tenant_id=tenant_id, kind=CheckpointKind.SEAL, seq=seq, chain_hash_value=prev, records=len(ids)
        )
    return len(ids)


def seal_window_since() -> datetime | None:
    """Where this process's next pass starts looking: :data:`SEAL_WINDOW` ago, or nowhere
    (every record) when its hourly full sweep is due."""
    global _full_sweep_due
    if time.monotonic() >= _full_sweep_due:
        _full_sweep_due = time.monotonic() + SEAL_FULL_SWEEP_SECONDS
        return None
    return timezone.now() - SEAL_WINDOW


def audit_seal_all(*, since: datetime | None = None) -> int:
    """Seal every tenant's pending records created at or after ``since`` (all of them
    without it); returns how many this pass sealed. The periodic task and the in-process
    sealer pass :func:`seal_window_since`.

    One sealer per database: on PostgreSQL every batch takes the sealer lock without waiting,
    and a pass that finds it held (another gateway worker, a beat task) stops there, leaving
    the records to the process that holds it.
    """
    # No ordering: the model's default one would put created_at and id into the DISTINCT
    # (one row per pending record, not per tenant). Served by the partial index log_unsealed.
    pending = RequestLog.objects.filter(sealed_at__isnull=True).order_by().values_list("tenant_id", flat=True)
    if since is not None:
        pending = pending.filter(created_at__gte=since)
    total = 0
    try:
        for tenant_id in list(pending.distinct()):
            # Go round again only after a full batch: under steady traffic a "until nothing is
            # left" loop never ends and turns every sealer into a busy loop of tiny checkpoints.
            while (sealed := tenant_chain_seal(tenant_id=tenant_id, sole=True, since=since)) == SEAL_BATCH:
                total += sealed
            total += sealed
    except SealerBusy:
        logger.debug("another process is sealing; this pass stops after %d records", total)
    return total


def audit_chain_verify(*, tenant_id: str) -> ChainVerdict:
    # The head first: a seal committed during the walk only adds records after it, never
    # makes the head claim more than the walk can find.
    head_seq = AuditChainHead.objects.filter(tenant_id=tenant_id).values_list("last_seq", flat=True).first() or 0
    checkpoints = list(AuditCheckpoint.objects.filter(tenant_id=tenant_id).order_by("seq", "created_at"))
    records = (
        RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=False)
        .order_by("seq")
        .iterator(chunk_size=2000)
    )
    verdict = chain_walk(tenant_id, records, checkpoints, signing_key().public_key())
    pruned_through = max((c.seq for c in checkpoints if c.kind == CheckpointKind.PRUNE), default=0)
    walked_to = pruned_through + verdict.checked
    if verdict.valid and walked_to < head_seq:
        # The newest records were deleted together with their checkpoints.
        verdict.fail(None, f"the chain head is at {head_seq} but the sealed records end at {walked_to} (deleted)")
    return verdict


def _retention_cutoff(retention_days: int, now: datetime) -> datetime:
    if retention_days < RETENTION_FLOOR_DAYS:
        raise ValueError(f"retention of {retention_days} days is under the floor of {RETENTION_FLOOR_DAYS}")
    return now - timedelta(days=retention_days)


def _retention_through(tenant_id: str, cutoff: datetime, last_seq: int) -> int:
    """The last seq retention deletes: the chain's prefix before its first record kept."""
    sealed = RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=False)
    first_kept = sealed.filter(created_at__gte=cutoff).order_by("seq").values_list("seq", flat=True).first()
    return (first_kept - 1) if first_kept is not None else last_seq


def _retention_mark() -> None:
    """Let this transaction delete sealed records (the append-only trigger's one exception)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL aidgate.retention = 'on'")


def _pruned_record(*, tenant_id: str, last: dict, count: int, retention_days: int, partitions: list[str]) -> None:
    checkpoint_write(
        tenant_id=tenant_id, kind=CheckpointKind.PRUNE, seq=last["seq"], chain_hash_value=last["chain_hash"],
        records=count,
    )  # fmt: skip
    changes = {
        "records": {"before": count, "after": 0},
        "retention_days": {"before": None, "after": retention_days},
    }
    if partitions:
        changes["partitions_dropped"] = {"before": partitions, "after": []}
    event_record_raw(
        tenant_id=tenant_id,
        actor=SYSTEM,
        action="logs.pruned",
        object_type="log",
        object_id=f"seq<={last['seq']}",
        changes=changes,
    )


def audit_retention_apply(*, tenant_id: str, retention_days: int, now=None) -> int:
    """Delete the oldest sealed records past retention, as a prefix of the chain, and sign a
    ``prune`` checkpoint saying so: expiring old records is the only deletion there is.

    Refuses a retention under a day whatever its source: 0 would delete every sealed record.
    """
    now = now or timezone.now()
    cutoff = _retention_cutoff(retention_days, now)
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(tenant_id=tenant_id).first()
        if head is None:
            return 0
        through = _retention_through(tenant_id, cutoff, head.last_seq)
        doomed = RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=False, seq__lte=through)
        last = doomed.order_by("-seq").values("seq", "chain_hash").first()
        if last is None:
            return 0
        _retention_mark()
        count, _ = doomed.delete()
        _pruned_record(tenant_id=tenant_id, last=last, count=count, retention_days=retention_days, partitions=[])
    return count


def audit_retention_all(*, retention_days: dict[str, int], now: datetime | None = None) -> int:
    """Apply every tenant's retention (tenant id -> days); returns how many records went.

    On a partitioned PostgreSQL table, month partitions whose every record would be deleted
    anyway go first, whole (:func:`audit_retention_partitions_drop`); then each tenant's
    remaining expired records are deleted by row (:func:`audit_retention_apply`).
    """
    now = now or timezone.now()
    total = audit_retention_partitions_drop(retention_days=retention_days, now=now)
    for tenant_id, days in retention_days.items():
        total += audit_retention_apply(tenant_id=tenant_id, retention_days=days, now=now)
    return total


def audit_retention_partitions_drop(*, retention_days: dict[str, int], now: datetime | None = None) -> int:
    """Drop the month partitions whose every record retention would delete anyway, in one
    transaction with one signed ``prune`` checkpoint per tenant that had records in them.

    A partition goes only if every record in it is sealed, belongs to a tenant of
    ``retention_days`` and lies in that tenant's expired chain prefix (the very records
    :func:`audit_retention_apply` would delete). The tenant's other records of that prefix
    are deleted by row in the same transaction, so each checkpoint covers a whole prefix and
    the chain still verifies. Returns how many records went; 0 where there are no partitions.
    """
    now = now or timezone.now()
    cutoffs = {tenant_id: _retention_cutoff(days, now) for tenant_id, days in retention_days.items()}
    if not cutoffs:
        return 0
    # A partition newer than the oldest cutoff has records no tenant's retention expired yet.
    candidates = [p for p in partition_list() if p.end <= max(cutoffs.values())]
    if not candidates:
        return 0
    try:
        with transaction.atomic():
            return _partitions_drop(candidates, retention_days, cutoffs)
    except OperationalError as error:
        # Most likely the lock timeout behind a long read: the next run tries again.
        logger.warning("retention left its partitions in place this run: %s", error)
        return 0


def _partitions_drop(candidates: list[Partition], retention_days: dict[str, int], cutoffs: dict[str, datetime]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{PARTITION_DROP_LOCK_TIMEOUT}'")
        # No sealer extends a chain meanwhile: sealers try this lock without waiting and skip.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALER_LOCK_KEY])
    chosen: list[tuple[Partition, dict[str, tuple[int, int]]]] = []
    throughs: dict[str, int] = {}
    for partition in candidates:
        name = connection.ops.quote_name(partition.name)
        with connection.cursor() as cursor:
            # SHARE: no row of the partition changes until the transaction ends, while reads
            # (every query without a time bound plans this partition) go on during the count;
            # only the DROP at the end holds the records table exclusively, briefly.
            cursor.execute(f"LOCK TABLE {name} IN SHARE MODE")
            cursor.execute(
                f"SELECT tenant_id, count(*), count(sealed_at), max(seq) FROM {name} GROUP BY tenant_id"  # noqa: S608
            )
            stats = {tenant_id: (rows, sealed, top) for tenant_id, rows, sealed, top in cursor.fetchall()}
        if not all(tenant_id in cutoffs and rows == sealed for tenant_id, (rows, sealed, _) in stats.items()):
            continue
        heads = dict(
            AuditChainHead.objects.select_for_update()
            .filter(tenant_id__in=sorted(set(stats) - set(throughs)))
            .order_by("tenant_id")
            .values_list("tenant_id", "last_seq")
        )
        for tenant_id in set(stats) - set(throughs):
            throughs[tenant_id] = _retention_through(tenant_id, cutoffs[tenant_id], heads.get(tenant_id, 0))
        if all(top <= throughs[tenant_id] for tenant_id, (_, _, top) in stats.items()):
            chosen.append((partition, {tenant_id: (rows, top) for tenant_id, (rows, _, top) in stats.items()}))
    if not chosen:
        return 0
    dropped: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for partition, stats in chosen:
        for tenant_id, (rows, _) in stats.items():
            dropped.setdefault(tenant_id, []).append(partition.name)
            counts[tenant_id] = counts.get(tenant_id, 0) + rows
    # Each checkpoint names the prefix's last record, read before it may go with a partition.
    lasts = {
        tenant_id: RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=False, seq=throughs[tenant_id])
        .values("seq", "chain_hash")
        .get()
        for tenant_id in dropped
    }
    _retention_mark()
    with connection.cursor() as cursor:
        for partition, _ in chosen:
            cursor.execute(f"DROP TABLE {connection.ops.quote_name(partition.name)}")
    total = sum(counts.values())
    for tenant_id in sorted(dropped):
        rest, _ = RequestLog.objects.filter(
            tenant_id=tenant_id, sealed_at__isnull=False, seq__lte=throughs[tenant_id]
        ).delete()
        _pruned_record(
            tenant_id=tenant_id, last=lasts[tenant_id], count=counts[tenant_id] + rest,
            retention_days=retention_days[tenant_id], partitions=dropped[tenant_id],
        )  # fmt: skip
        total += rest
    return total
