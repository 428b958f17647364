"""Streaming exports of request records (JSONL with everything an auditor needs, or CSV).

Generators over a database iterator: memory stays constant whatever the size. The JSONL
form starts with a header naming the tenant and the checkpoint-signing public key, carries
every record with its chain values, and ends with the tenant's signed checkpoints (up to the
end of the chain when the export began), so that ``manage.py verify_audit --file`` can verify
it without any database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from forensics.canonical import CHAINED_FIELDS, record_document, timestamp_text
from forensics.chain_walk import ChainVerdict, chain_walk, checkpoint_fields
from forensics.models import AuditChainHead, AuditCheckpoint, RequestLog
from forensics.signing import public_key_load, public_key_pem

EXPORT_FORMAT = "aidgate-audit-export/1"
CHAIN_FIELDS = ("seq", "prev_hash", "chain_hash")
CHUNK = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _line(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def chain_end(tenant_id: str) -> int:
    """The last sequence number sealed into the tenant's chain (0 before the first seal)."""
    return AuditChainHead.objects.filter(tenant_id=tenant_id).values_list("last_seq", flat=True).first() or 0


def export_records(queryset: QuerySet[RequestLog], *, through: int) -> Iterator[RequestLog]:
    """Records sealed up to ``through`` in chain order, then every other record.

    The sealer keeps running while an export streams, so the split is at a sequence number
    fixed before the first query rather than at "sealed or not": a record sealed between the
    two queries then lands in the second one instead of in neither.
    """
    yield from queryset.filter(seq__lte=through).order_by("seq").iterator(chunk_size=CHUNK)
    rest = queryset.filter(Q(seq__isnull=True) | Q(seq__gt=through))
    yield from rest.order_by("created_at", "id").iterator(chunk_size=CHUNK)


def export_jsonl(queryset: QuerySet[RequestLog], *, tenant_id: str, complete: bool) -> Iterator[bytes]:
    # Checkpoints are limited to the chain as it stood when the export began: one signed while
    # the records were streaming would vouch for records this file may not hold.
    through = chain_end(tenant_id)
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
    for record in export_records(queryset, through=through):
        yield _line({"type": "record", **record_document(record), **{f: getattr(record, f) for f in CHAIN_FIELDS}})
    checkpoints = AuditCheckpoint.objects.filter(tenant_id=tenant_id, seq__lte=through).order_by("seq", "created_at")
    for checkpoint in checkpoints.iterator():
        yield _line({"type": "checkpoint", **checkpoint_fields(checkpoint)})


def csv_cell(value: Any) -> Any:
    """A CSV cell; text that a spreadsheet would run as a formula is prefixed with ``'``.

    Clients choose their user agent, user and conversation ids, so a cell such as
    ``=HYPERLINK(...)`` would otherwise execute on the auditor's machine. The JSONL export,
    the verifiable form, keeps every value as recorded.
    """
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_csv(queryset: QuerySet[RequestLog], *, tenant_id: str) -> Iterator[bytes]:
    columns = (*CHAINED_FIELDS, *CHAIN_FIELDS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for index, record in enumerate(export_records(queryset, through=chain_end(tenant_id))):
        document = record_document(record)
        values = (*(document[c] for c in CHAINED_FIELDS), *(getattr(record, f) for f in CHAIN_FIELDS))
        writer.writerow([csv_cell(v) for v in values])
        if index % 200 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _items(lines: Iterable[str], kind: str) -> Iterator[dict]:
    """The file's items of one type, in file order; other lines are skipped without parsing
    when their start says they are of another type."""
    start = '{"type":"' + kind + '"'
    for raw in lines:
        if not raw.strip() or (raw.startswith('{"type":"') and not raw.startswith(start)):
            continue
        item = json.loads(raw)
        if isinstance(item, dict) and item.pop("type", None) == kind:
            yield item


class ExportFile:
    """An export read as three streams over the same file (header and checkpoints twice,
    records once), each opened anew: memory stays bounded whatever the file's size."""

    def __init__(self, open_lines: Callable[[], Iterable[str]]) -> None:
        self._open_lines = open_lines

    def header(self) -> dict | None:
        return next(_items(self._open_lines(), "export"), None)

    def records(self) -> Iterator[dict]:
        return (r for r in _items(self._open_lines(), "record") if r.get("seq") is not None)

    def __iter__(self) -> Iterator[dict]:  # the checkpoints, as chain_walk reads them
        return _items(self._open_lines(), "checkpoint")


@dataclass(frozen=True)
class OfflineVerdict:
    tenant_id: str
    verdict: ChainVerdict
    # Whether the key that checked the signatures came from the export itself: then the file
    # vouches for itself, and whoever could rewrite it could have signed it.
    embedded_key: bool


def export_verify_file(open_lines: Callable[[], Iterable[str]], public_key_pem_text: str | None) -> OfflineVerdict:
    """Verify a JSONL export offline with the key given (or, if none, the export's own)."""
    export = ExportFile(open_lines)
    header = export.header()
    if header is None:
        raise ValueError("not an aidgate audit export (no header line)")
    key = public_key_load(public_key_pem_text or header["public_key"])
    verdict = chain_walk(header["tenant_id"], export.records(), export, key)
    return OfflineVerdict(header["tenant_id"], verdict, embedded_key=public_key_pem_text is None)
