"""Streaming exports of request records (JSONL with everything an auditor needs, or CSV).

Generators over a database iterator: memory stays constant whatever the size. The JSONL
form starts with a header naming the tenant and the checkpoint-signing public key, carries
every record with its chain values, and ends with the tenant's signed checkpoints, so that
``manage.py verify_audit --file`` can verify it without any database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils import timezone

from forensics.canonical import CHAINED_FIELDS, record_document, timestamp_text
from forensics.chain_walk import checkpoint_fields
from forensics.models import AuditCheckpoint, RequestLog
from forensics.signing import public_key_pem

EXPORT_FORMAT = "aidgate-audit-export/1"
CHAIN_FIELDS = ("seq", "prev_hash", "chain_hash")
CHUNK = 2000


def _line(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def export_records(queryset: QuerySet[RequestLog]) -> Iterator[RequestLog]:
    """Sealed records in chain order, then the ones not sealed yet."""
    yield from queryset.filter(seq__isnull=False).order_by("seq").iterator(chunk_size=CHUNK)
    yield from queryset.filter(seq__isnull=True).order_by("created_at", "id").iterator(chunk_size=CHUNK)


def export_jsonl(queryset: QuerySet[RequestLog], *, tenant_id: str, complete: bool) -> Iterator[bytes]:
    yield _line(
        {
            "type": "export",
            "format": EXPORT_FORMAT,
            "tenant_id": tenant_id,
            "exported_at": timestamp_text(timezone.now()),
            "complete": complete,
            "signature_algorithm": "Ed25519",
            "public_key": public_key_pem(),
        }
    )
    for record in export_records(queryset):
        yield _line({"type": "record", **record_document(record), **{f: getattr(record, f) for f in CHAIN_FIELDS}})
    for checkpoint in AuditCheckpoint.objects.filter(tenant_id=tenant_id).order_by("seq", "created_at").iterator():
        yield _line({"type": "checkpoint", **checkpoint_fields(checkpoint)})


def export_csv(queryset: QuerySet[RequestLog]) -> Iterator[bytes]:
    columns = (*CHAINED_FIELDS, *CHAIN_FIELDS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for index, record in enumerate(export_records(queryset)):
        document = record_document(record)
        writer.writerow(
            [json.dumps(v) if isinstance(v, list) else v for v in (*(document[c] for c in CHAINED_FIELDS),
                                                                    *(getattr(record, f) for f in CHAIN_FIELDS))]
        )  # fmt: skip
        if index % 200 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def export_verify_file(lines: Iterator[str], public_key_pem_text: str | None):
    """Verify a JSONL export offline; returns (tenant_id, ChainVerdict)."""
    from forensics.chain_walk import chain_walk
    from forensics.signing import public_key_load

    header: dict | None = None
    records: list[dict] = []
    checkpoints: list[dict] = []
    for raw in lines:
        if not raw.strip():
            continue
        item = json.loads(raw)
        kind = item.pop("type", None)
        if kind == "export":
            header = item
        elif kind == "record" and item.get("seq") is not None:
            records.append(item)
        elif kind == "checkpoint":
            checkpoints.append(item)
    if header is None:
        raise ValueError("not an aidgate audit export (no header line)")
    key = public_key_load(public_key_pem_text or header["public_key"])
    records.sort(key=lambda r: r["seq"])
    return header["tenant_id"], chain_walk(header["tenant_id"], records, checkpoints, key)
