"""Sealing new records into each tenant's hash chain, verifying chains, and retention."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from core.actors import SYSTEM
from forensics.canonical import CHAINED_FIELDS, chain_hash, checkpoint_statement, row_document, timestamp_text
from forensics.chain_walk import ChainVerdict, chain_walk
from forensics.models import AuditChainHead, AuditCheckpoint, CheckpointKind, RequestLog
from forensics.services import event_record_raw
from forensics.signing import signing_key, statement_sign
from tenants.models import RETENTION_FLOOR_DAYS

logger = logging.getLogger(__name__)
SEAL_BATCH = 5000
# PostgreSQL's advisory locks are per database, so one fixed key means "this database's
# sealer" ("aidseal" in ASCII).
SEALER_LOCK_KEY = 0x61_6964_7365_616C
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


def tenant_chain_seal(*, tenant_id: str, batch: int = SEAL_BATCH, sole: bool = False) -> int:
    """Give the tenant's unsealed records their place in the chain; returns how many.

    With ``sole`` the batch first takes the database's sealer lock and raises
    :class:`SealerBusy` instead of waiting when another process holds it.
    """
    with transaction.atomic():
        if sole and not sealer_lock_try():
            raise SealerBusy
        # The head row is the tenant's chain lock: two sealers never extend one chain twice.
        seq, prev = _head_lock(tenant_id)
        # Plain rows of the chained fields only, through the fields' own converters, so the
        # document is the one the verifiers build from model instances; log_unsealed serves it.
        rows = (
            RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=True)
            .order_by("created_at", "id")
            .values_list(*CHAINED_FIELDS)[:batch]
        )
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


def audit_seal_all() -> int:
    """Seal every tenant's pending records (the periodic task, also run in-process); returns
    how many this pass sealed.

    One sealer per database: on PostgreSQL every batch takes the sealer lock without waiting,
    and a pass that finds it held (another gateway worker, a beat task) stops there, leaving
    the records to the process that holds it.
    """
    # No ordering: the model's default one would put created_at and id into the DISTINCT
    # (one row per pending record, not per tenant). Served by the partial index log_unsealed.
    pending = RequestLog.objects.filter(sealed_at__isnull=True).order_by().values_list("tenant_id", flat=True)
    total = 0
    try:
        for tenant_id in list(pending.distinct()):
            # Go round again only after a full batch: under steady traffic a "until nothing is
            # left" loop never ends and turns every sealer into a busy loop of tiny checkpoints.
            while (sealed := tenant_chain_seal(tenant_id=tenant_id, sole=True)) == SEAL_BATCH:
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


def audit_retention_apply(*, tenant_id: str, retention_days: int, now=None) -> int:
    """Delete the oldest sealed records past retention, as a prefix of the chain, and sign a
    ``prune`` checkpoint saying so: expiring old records is the only deletion there is.

    Refuses a retention under a day whatever its source: 0 would delete every sealed record.
    """
    if retention_days < RETENTION_FLOOR_DAYS:
        raise ValueError(f"retention of {retention_days} days is under the floor of {RETENTION_FLOOR_DAYS}")
    now = now or timezone.now()
    cutoff = now - timedelta(days=retention_days)
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(tenant_id=tenant_id).first()
        if head is None:
            return 0
        sealed = RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=False)
        first_kept = sealed.filter(created_at__gte=cutoff).order_by("seq").values_list("seq", flat=True).first()
        through = (first_kept - 1) if first_kept is not None else head.last_seq
        doomed = sealed.filter(seq__lte=through)
        last = doomed.order_by("-seq").values("seq", "chain_hash").first()
        if last is None:
            return 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL aidgate.retention = 'on'")
        count, _ = doomed.delete()
        checkpoint_write(
            tenant_id=tenant_id, kind=CheckpointKind.PRUNE, seq=last["seq"], chain_hash_value=last["chain_hash"],
            records=count,
        )  # fmt: skip
        event_record_raw(
            tenant_id=tenant_id,
            actor=SYSTEM,
            action="logs.pruned",
            object_type="log",
            object_id=f"seq<={last['seq']}",
            changes={
                "records": {"before": count, "after": 0},
                "retention_days": {"before": None, "after": retention_days},
            },
        )
    return count
