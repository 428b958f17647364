"""Offline verification of a JSONL log export (``aidgate-audit-export/1``, ``docs/forensics.md``
→ The export format), without the gateway's code or database.

An auditor's verifier should not share code with the system it audits, and the command that
runs it must not need Django; so this is a second implementation of the documented format and
rules, kept in step with the gateway's own (``forensics.chain_walk``) by a test that runs both
on the same exports, tampered and not (``tests/cli/test_audit.py``).

The rules (``docs/forensics.md`` → Offline): every checkpoint's signature must verify with the
trusted key; the seal checkpoints tile the chain, so a removed one leaves a gap; each record
links to its predecessor and hashes to its ``chain_hash``; records past the last signed
checkpoint are counted as ``unsigned``; records no checkpoint covers at all are not valid. The
file is read three times (checkpoints twice, records once) with constant state, so memory stays
bounded whatever its size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

EXPORT_FORMAT = "aidgate-audit-export/1"
GENESIS_HASH = "0" * 64
# The fields of a record line that are the chain's own; every other field is hashed.
CHAIN_FIELDS = ("type", "seq", "prev_hash", "chain_hash")
STATEMENT_FIELDS = ("kind", "seq", "chain_hash", "records", "created_at")


class ExportUnreadable(ValueError):
    """The file is not an export this verifier can read (no header, bad JSON, a bad key)."""


@dataclass
class ExportVerdict:
    """What the walk established. ``first_invalid`` names the first record affected, or is
    ``None`` when no single record is to blame (a forged checkpoint, records cut off the end)."""

    tenant_id: str
    valid: bool = True
    checked: int = 0
    unsigned: int = 0
    first_invalid: str | None = None
    problem: str | None = None
    # Whether the key came from the export itself: then the file vouches for itself.
    embedded_key: bool = False

    def fail(self, record_id: str | None, problem: str) -> ExportVerdict:
        if self.valid:
            self.valid, self.first_invalid, self.problem = False, record_id, problem
        return self


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, seq: int, document: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{prev_hash}\n{seq}\n".encode())
    digest.update(canonical_json(document))
    return digest.hexdigest()


def _items(path: Path, kind: str) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExportUnreadable(f"line {number} is not JSON: {exc.msg}") from exc
            if isinstance(item, dict) and item.get("type") == kind:
                yield item


def _signature_valid(key: Ed25519PublicKey, statement: bytes, signature: Any) -> bool:
    try:
        key.verify(base64.b64decode(str(signature), validate=True), statement)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def public_key_read(pem: str) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ExportUnreadable("the public key is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ExportUnreadable("the public key is not an Ed25519 key")
    return key


@dataclass
class _Survey:
    """One pass over the checkpoints, before any record is read."""

    prune: dict[str, Any] | None = None  # the newest prune checkpoint: where the kept chain starts
    last_signed: int = 0
    gap_at: int | None = None  # the first seq no seal checkpoint accounts for
    problem: str | None = None


def _checkpoints_survey(path: Path, tenant_id: str, key: Ed25519PublicKey) -> _Survey:
    survey = _Survey()
    sealed_through = 0
    for checkpoint in _items(path, "checkpoint"):
        try:
            seq, records = int(checkpoint["seq"]), int(checkpoint["records"])
            statement = canonical_json({"tenant_id": tenant_id, **{f: checkpoint[f] for f in STATEMENT_FIELDS}})
        except (KeyError, TypeError, ValueError):
            survey.problem = f"checkpoint {checkpoint.get('id')} is malformed"
            return survey
        if not _signature_valid(key, statement, checkpoint.get("signature")):
            survey.problem = f"checkpoint {checkpoint.get('id')} has an invalid signature"
            return survey
        survey.last_signed = max(survey.last_signed, seq)
        if checkpoint["kind"] == "prune":
            if survey.prune is None or seq >= int(survey.prune["seq"]):
                survey.prune = checkpoint
        elif checkpoint["kind"] == "seal":
            if seq - records != sealed_through and survey.gap_at is None:
                survey.gap_at = sealed_through + 1
            sealed_through = seq
    return survey


def _seal_marks(path: Path) -> Iterator[tuple[int, str]]:
    for checkpoint in _items(path, "checkpoint"):
        if checkpoint.get("kind") == "seal":
            yield int(checkpoint["seq"]), checkpoint["chain_hash"]


def export_header(path: Path) -> dict[str, Any]:
    header = next(_items(path, "export"), None)
    if header is None:
        raise ExportUnreadable("not an aidgate audit export (no header line)")
    if header.get("format") != EXPORT_FORMAT:
        raise ExportUnreadable(f"unknown export format {header.get('format')!r}, expected {EXPORT_FORMAT}")
    return header


def export_verify(path: str | Path, public_key_pem: str | None = None) -> ExportVerdict:
    """Verify an export with the key given, or, without one, the export's own (which proves
    nothing of who wrote the file: the verdict's ``embedded_key`` says so).

    Raises :class:`ExportUnreadable` when the file cannot be read as an export at all.
    """
    path = Path(path)
    header = export_header(path)
    tenant_id = str(header.get("tenant_id"))
    key = public_key_read(public_key_pem if public_key_pem is not None else str(header.get("public_key")))
    verdict = ExportVerdict(tenant_id=tenant_id, embedded_key=public_key_pem is None)
    survey = _checkpoints_survey(path, tenant_id, key)
    if survey.problem:
        return verdict.fail(None, survey.problem)
    start = survey.prune
    seq, prev = (int(start["seq"]), start["chain_hash"]) if start else (0, GENESIS_HASH)
    marks = _seal_marks(path)
    mark = next(marks, None)
    first_id: str | None = None

    for record in _items(path, "record"):
        if record.get("seq") is None:
            continue  # not sealed when the export began: not part of the chain yet
        record_seq, record_id = int(record["seq"]), record.get("id")
        if start is not None and record_seq <= int(start["seq"]):
            continue  # pruned range still partly present
        if record_seq != seq + 1:
            return verdict.fail(record_id, f"sequence jumps from {seq} to {record_seq} (records deleted or moved)")
        if record.get("prev_hash") != prev:
            return verdict.fail(record_id, "the record does not link to its predecessor")
        computed = chain_hash(prev, record_seq, {k: v for k, v in record.items() if k not in CHAIN_FIELDS})
        if computed != record.get("chain_hash"):
            return verdict.fail(record_id, "the record's content does not match its hash (changed)")
        if survey.gap_at == record_seq:
            return verdict.fail(record_id, "the signed checkpoint covering this record was removed")
        while mark is not None and mark[0] < record_seq:
            mark = next(marks, None)
        if mark is not None and mark[0] == record_seq and mark[1] != computed:
            return verdict.fail(record_id, "the chain differs from a signed checkpoint")
        seq, prev = record_seq, computed
        verdict.checked += 1
        first_id = first_id or record_id
        if record_seq > survey.last_signed:
            verdict.unsigned += 1
    if verdict.checked and verdict.unsigned == verdict.checked:
        # Hashes alone prove nothing: anyone can recompute them. The sealer signs every batch.
        return verdict.fail(first_id, "no signed checkpoint covers these records")
    if survey.last_signed > seq:
        signed = survey.last_signed
        return verdict.fail(None, f"records up to {signed} were signed but the chain ends at {seq} (deleted)")
    return verdict
