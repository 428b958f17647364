"""Sealing new records into each tenant's hash chain, verifying chains, and retention."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from core.actors import SYSTEM
from forensics.canonical import chain_hash, checkpoint_statement, record_document, timestamp_text
from forensics.chain_walk import ChainVerdict, chain_walk
from forensics.models import AuditChainHead, AuditCheckpoint, CheckpointKind, RequestLog
from forensics.services import event_record
from forensics.signing import signing_key, statement_sign

logger = logging.getLogger(__name__)
SEAL_BATCH = 5000


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


def tenant_chain_seal(*, tenant_id: str, batch: int = SEAL_BATCH) -> int:
    """Give the tenant's unsealed records their place in the chain; returns how many."""
    AuditChainHead.objects.get_or_create(tenant_id=tenant_id)
    with transaction.atomic():
        # The head row is the tenant's chain lock: two sealers never extend one chain twice.
        head = AuditChainHead.objects.select_for_update().get(tenant_id=tenant_id)
        records = list(
            RequestLog.objects.filter(tenant_id=tenant_id, sealed_at__isnull=True).order_by("created_at", "id")[:batch]
        )
        if not records:
            return 0
        seq, prev = head.last_seq, head.last_hash
        now = timezone.now()
        for record in records:
            seq += 1
            record.seq, record.prev_hash, record.sealed_at = seq, prev, now
            record.chain_hash = prev = chain_hash(prev, seq, record_document(record))
        RequestLog.objects.bulk_update(records, ["seq", "prev_hash", "chain_hash", "sealed_at"], batch_size=500)
        head.last_seq, head.last_hash = seq, prev
        head.save(update_fields=["last_seq", "last_hash", "updated_at"])
        checkpoint_write(
            tenant_id=tenant_id, kind=CheckpointKind.SEAL, seq=seq, chain_hash_value=prev, records=len(records)
        )
    return len(records)


def audit_seal_all() -> int:
    """Seal every tenant's pending records (the periodic task, also run in-process)."""
    total = 0
    tenant_ids = RequestLog.objects.filter(sealed_at__isnull=True).values_list("tenant_id", flat=True).distinct()
    for tenant_id in list(tenant_ids):
        # Go round again only after a full batch: under steady traffic a "until nothing is
        # left" loop never ends and turns every sealer into a busy loop of tiny checkpoints.
        while (sealed := tenant_chain_seal(tenant_id=tenant_id)) == SEAL_BATCH:
            total += sealed
        total += sealed
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
    ``prune`` checkpoint saying so: expiring old records is the only deletion there is."""
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
        event_record(
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
