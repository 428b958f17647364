"""Walking a tenant's chain: one algorithm for the database verifier and the offline one.

The walk keeps constant state whatever the chain's length: checkpoints are read twice (a
survey, then beside the records, both in ascending ``seq``), records once, so an offline
export of any size verifies in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
    # Records hash-linked past the last signed checkpoint: not yet covered by a signature.
    unsigned: int = 0
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


@dataclass
class CheckpointSurvey:
    """What one pass over the checkpoints establishes before any record is read."""

    latest: dict[str, Any] | None = None
    prune: dict[str, Any] | None = None  # the newest prune: where the kept chain starts
    last_signed: int = 0
    # The first sequence number no seal checkpoint accounts for: a checkpoint was removed.
    gap_at: int | None = None
    problem: str | None = None


def checkpoints_survey(tenant_id: str, checkpoints: Iterable[Any], public_key) -> CheckpointSurvey:
    """Every signature checked; the newest checkpoint and prune; and whether the seal
    checkpoints tile the chain (each seals the ``records`` right after the previous one's
    ``seq``), since the sealer signs every batch it seals."""
    survey = CheckpointSurvey()
    sealed_through = 0
    for checkpoint in checkpoints:
        mark = checkpoint_fields(checkpoint)
        statement = checkpoint_statement(
            tenant_id=tenant_id, kind=mark["kind"], seq=mark["seq"], chain_hash_value=mark["chain_hash"],
            records=mark["records"], created_at=mark["created_at"],
        )  # fmt: skip
        if not signature_valid(public_key, statement, mark["signature"]):
            survey.problem = f"checkpoint {mark['id']} has an invalid signature"
            return survey
        if survey.latest is None or (mark["seq"], mark["created_at"]) >= (
            survey.latest["seq"],
            survey.latest["created_at"],
        ):
            survey.latest = mark
        survey.last_signed = max(survey.last_signed, mark["seq"])
        if mark["kind"] == "prune":
            if survey.prune is None or mark["seq"] >= survey.prune["seq"]:
                survey.prune = mark
        elif mark["kind"] == "seal":
            if mark["seq"] - mark["records"] != sealed_through and survey.gap_at is None:
                survey.gap_at = sealed_through + 1
            sealed_through = mark["seq"]
    return survey


def _seal_marks(checkpoints: Iterable[Any]) -> Iterator[tuple[int, str]]:
    for checkpoint in checkpoints:
        mark = checkpoint_fields(checkpoint)
        if mark["kind"] == "seal":
            yield mark["seq"], mark["chain_hash"]


def chain_walk(tenant_id: str, records: Iterable[Any], checkpoints: Iterable[Any], public_key) -> ChainVerdict:
    """``records``: sealed records in ascending ``seq`` (instances or export dicts);
    ``checkpoints``: in ascending ``seq``, iterable twice (a list, or a source that reads its
    file again)."""
    verdict = ChainVerdict()
    survey = checkpoints_survey(tenant_id, checkpoints, public_key)
    if survey.problem:
        return verdict.fail(None, survey.problem)
    verdict.checkpoint = survey.latest
    start = survey.prune
    seq, prev = (start["seq"], start["chain_hash"]) if start else (0, GENESIS_HASH)
    marks = _seal_marks(checkpoints)
    mark = next(marks, None)
    first_id: str | None = None

    for record in records:
        get = record.get if isinstance(record, dict) else lambda f, r=record: getattr(r, f)
        record_seq = int(get("seq"))
        if start is not None and record_seq <= start["seq"]:
            continue  # pruned range still partly present: not part of the verified chain
        record_id = get("id")
        if record_seq != seq + 1:
            return verdict.fail(record_id, f"sequence jumps from {seq} to {record_seq} (records deleted or moved)")
        if get("prev_hash") != prev:
            return verdict.fail(record_id, "the record does not link to its predecessor")
        computed = chain_hash(prev, record_seq, record_document(record))
        if computed != get("chain_hash"):
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
        return verdict.fail(
            None, f"records up to {survey.last_signed} were signed but the chain ends at {seq} (deleted)"
        )
    return verdict
