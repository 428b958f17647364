"""Walking a tenant's chain: one algorithm for the database verifier and the offline one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from forensics.canonical import GENESIS_HASH, chain_hash, checkpoint_statement, record_document
from forensics.signing import signature_valid


@dataclass
class ChainVerdict:
    valid: bool = True
    checked: int = 0
    first_invalid: str | None = None
    problem: str | None = None
    checkpoint: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def fail(self, record_id: str | None, problem: str) -> ChainVerdict:
        if self.valid:
            self.valid, self.first_invalid, self.problem = False, record_id, problem
        return self


def checkpoint_fields(checkpoint: Any) -> dict[str, Any]:
    get = checkpoint.get if isinstance(checkpoint, dict) else lambda f: getattr(checkpoint, f)
    created = get("created_at")
    created_text = created if isinstance(created, str) else created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": get("id"),
        "kind": get("kind"),
        "seq": int(get("seq")),
        "chain_hash": get("chain_hash"),
        "records": int(get("records")),
        "created_at": created_text,
        "signature": get("signature"),
    }


def chain_walk(tenant_id: str, records: Iterable[Any], checkpoints: list[Any], public_key) -> ChainVerdict:
    """``records``: sealed records in ascending ``seq`` (instances or export dicts)."""
    verdict = ChainVerdict()
    marks = [checkpoint_fields(c) for c in checkpoints]
    for mark in marks:
        statement = checkpoint_statement(
            tenant_id=tenant_id, kind=mark["kind"], seq=mark["seq"], chain_hash_value=mark["chain_hash"],
            records=mark["records"], created_at=mark["created_at"],
        )  # fmt: skip
        if not signature_valid(public_key, statement, mark["signature"]):
            return verdict.fail(None, f"checkpoint {mark['id']} has an invalid signature")
    if marks:
        verdict.checkpoint = max(marks, key=lambda m: (m["seq"], m["created_at"]))
    prunes = [m for m in marks if m["kind"] == "prune"]
    start = max(prunes, key=lambda m: m["seq"]) if prunes else None
    seq, prev = (start["seq"], start["chain_hash"]) if start else (0, GENESIS_HASH)
    expected_at = {m["seq"]: m["chain_hash"] for m in marks if m["kind"] == "seal"}

    for record in records:
        get = record.get if isinstance(record, dict) else lambda f, r=record: getattr(r, f)
        record_seq = int(get("seq"))
        if record_seq <= seq and start is not None:
            continue  # pruned range still partly present: not part of the verified chain
        record_id = get("id")
        if record_seq != seq + 1:
            return verdict.fail(record_id, f"sequence jumps from {seq} to {record_seq} (records deleted or moved)")
        if get("prev_hash") != prev:
            return verdict.fail(record_id, "the record does not link to its predecessor")
        computed = chain_hash(prev, record_seq, record_document(record))
        if computed != get("chain_hash"):
            return verdict.fail(record_id, "the record's content does not match its hash (changed)")
        if record_seq in expected_at and expected_at[record_seq] != computed:
            return verdict.fail(record_id, "the chain differs from a signed checkpoint")
        seq, prev = record_seq, computed
        verdict.checked += 1
    last_signed = max((m["seq"] for m in marks), default=0)
    if last_signed > seq:
        return verdict.fail(None, f"records up to {last_signed} were signed but the chain ends at {seq} (deleted)")
    return verdict
