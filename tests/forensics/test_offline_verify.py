"""Offline verification of an export (SPEC 6): it trusts only the key it is given, counts
records past the last signed checkpoint as unsigned, refuses records no checkpoint covers,
finds a removed checkpoint by its first record, and reads a file of any size in bounded
memory."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from forensics.canonical import chain_hash, checkpoint_statement, record_document
from forensics.export import export_jsonl, export_verify_file
from forensics.models import RequestLog
from forensics.sealing import audit_seal_all
from forensics.signing import public_key_pem, statement_sign
from tests.forensics.support import make_logs


@pytest.fixture
def three_batches(tenant):
    """Ten records sealed in three batches (three checkpoints: 4, 3 and 3 records)."""
    for count in (4, 3, 3):
        make_logs(tenant.id, count, start=timezone.now())
        audit_seal_all()
    return tenant


def export_lines(tenant) -> list[str]:
    data = b"".join(export_jsonl(RequestLog.objects.filter(tenant_id=tenant.id), tenant_id=tenant.id, complete=True))
    return data.decode().splitlines()


def verify(lines: list[str], *extra: str, tmp_path, key: bool = True) -> tuple[bool, str]:
    export, pem = tmp_path / "export.jsonl", tmp_path / "key.pem"
    export.write_text("\n".join(lines) + "\n")
    pem.write_text(public_key_pem())
    out = io.StringIO()
    arguments = ["--file", str(export), *(["--public-key", str(pem)] if key else []), *extra]
    try:
        call_command("verify_audit", *arguments, stdout=out)
    except CommandError as error:
        return False, f"{out.getvalue()}\n{error}"
    return True, out.getvalue()


def kinds(lines: list[str]) -> list[str]:
    return [json.loads(line)["type"] for line in lines]


def seq_of(lines: list[str], seq: int) -> str:
    return next(json.loads(x)["id"] for x in lines if json.loads(x).get("seq") == seq)


def test_it_verifies_an_intact_export_with_the_key_it_is_given(three_batches, tmp_path):
    lines = export_lines(three_batches)
    assert kinds(lines).count("checkpoint") == 3
    ok, out = verify(lines, tmp_path=tmp_path)
    assert ok, out
    assert "valid, 10 records checked" in out


def test_it_refuses_to_vouch_for_an_export_with_its_own_key_unless_told_to(three_batches, tmp_path):
    lines = export_lines(three_batches)
    refused, out = verify(lines, tmp_path=tmp_path, key=False)
    assert not refused
    assert "the signing key came from the export itself" in out
    trusted, out = verify(lines, "--trust-embedded-key", tmp_path=tmp_path, key=False)
    assert trusted, out
    assert "the signing key came from the export itself" in out


def test_it_refuses_records_that_no_checkpoint_covers(three_batches, tmp_path):
    lines = [x for x in export_lines(three_batches) if json.loads(x)["type"] != "checkpoint"]
    ok, out = verify(lines, tmp_path=tmp_path)
    assert not ok
    assert "no signed checkpoint covers these records" in out
    verdict = export_verify_file(lambda: lines, public_key_pem()).verdict
    assert (verdict.valid, verdict.first_invalid) == (False, seq_of(lines, 1))


def test_it_reports_records_past_the_last_checkpoint_as_unsigned(three_batches, tmp_path):
    lines = export_lines(three_batches)
    last_checkpoint = max(i for i, x in enumerate(lines) if json.loads(x)["type"] == "checkpoint")
    del lines[last_checkpoint]
    ok, out = verify(lines, tmp_path=tmp_path)
    assert ok, out
    assert "3 records past the last signed checkpoint are unsigned" in out
    assert export_verify_file(lambda: lines, public_key_pem()).verdict.unsigned == 3


def test_it_finds_a_removed_checkpoint_by_the_first_record_it_covered(three_batches, tmp_path):
    lines = export_lines(three_batches)
    checkpoints = [i for i, x in enumerate(lines) if json.loads(x)["type"] == "checkpoint"]
    del lines[checkpoints[1]]  # the one that signed records 5 to 7
    ok, _ = verify(lines, tmp_path=tmp_path)
    assert not ok
    verdict = export_verify_file(lambda: lines, public_key_pem()).verdict
    assert (verdict.valid, verdict.first_invalid) == (False, seq_of(lines, 5))
    assert verdict.problem == "the signed checkpoint covering this record was removed"


@pytest.mark.parametrize("tamper", ["swap", "duplicate", "drop", "change"])
def test_it_finds_a_reordered_added_removed_or_changed_record(three_batches, tmp_path, tamper):
    lines = export_lines(three_batches)
    at = next(i for i, x in enumerate(lines) if json.loads(x).get("seq") == 6)
    blamed = seq_of(lines, 6)
    if tamper == "swap":
        lines[at], lines[at + 1] = lines[at + 1], lines[at]
        blamed = seq_of(lines, 7)
    elif tamper == "duplicate":
        lines.insert(at, lines[at - 1])
        blamed = seq_of(lines, 5)
    elif tamper == "drop":
        del lines[at]
        blamed = seq_of(lines, 7)
    else:
        record = json.loads(lines[at])
        record["prompt_tokens"] = 1
        lines[at] = json.dumps(record)
    ok, _ = verify(lines, tmp_path=tmp_path)
    assert not ok
    assert export_verify_file(lambda: lines, public_key_pem()).verdict.first_invalid == blamed


def synthetic_export(template: list[str], count: int) -> list[str]:
    """A valid export of ``count`` records: the template's first record, renamed, rechained and
    signed by one checkpoint with the gateway's key."""
    header = json.loads(template[0])
    base = json.loads(next(x for x in template if json.loads(x)["type"] == "record"))
    lines, prev = [template[0]], "0" * 64
    for seq in range(1, count + 1):
        record = {**base, "id": f"req_synthetic{seq:012d}", "seq": seq, "prev_hash": prev}
        record["chain_hash"] = prev = chain_hash(prev, seq, record_document(record))
        lines.append(json.dumps(record, separators=(",", ":")))
    created = "2026-01-01T00:00:00.000000Z"
    statement = checkpoint_statement(
        tenant_id=header["tenant_id"], kind="seal", seq=count, chain_hash_value=prev, records=count, created_at=created
    )
    checkpoint = {"type": "checkpoint", "id": "ckp_synthetic", "kind": "seal", "seq": count, "chain_hash": prev,
                  "records": count, "created_at": created, "signature": statement_sign(statement)}  # fmt: skip
    lines.append(json.dumps(checkpoint, separators=(",", ":")))
    return lines


def peak_while_verifying(path) -> tuple[int, bool]:
    def read():
        with path.open(encoding="utf-8") as handle:
            yield from handle

    tracemalloc.start()
    try:
        verdict = export_verify_file(read, public_key_pem()).verdict
        return tracemalloc.get_traced_memory()[1], verdict.valid and verdict.checked > 0
    finally:
        tracemalloc.stop()


def test_it_verifies_a_large_export_in_bounded_memory(three_batches, tmp_path):
    template = export_lines(three_batches)
    assert json.loads(template[1])["prev_hash"] == "0" * 64  # the synthetic chain starts as the real one
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    small.write_text("\n".join(synthetic_export(template, 1_000)) + "\n")
    large.write_text("\n".join(synthetic_export(template, 30_000)) + "\n")
    small_peak, small_ok = peak_while_verifying(small)
    large_peak, large_ok = peak_while_verifying(large)
    assert small_ok
    assert large_ok
    # Thirty times the records: the peak stays what one record and the walk's state need.
    assert large_peak < small_peak * 1.5 + 256 * 1024, (small_peak, large_peak)


def test_it_finds_a_forged_copy_of_a_record_after_retention_pruned_the_chains_start(tenant, tmp_path):
    from datetime import timedelta

    from forensics.sealing import audit_retention_apply

    make_logs(tenant.id, 4, start=timezone.now() - timedelta(days=10))
    audit_seal_all()
    make_logs(tenant.id, 3, start=timezone.now())
    audit_seal_all()
    assert audit_retention_apply(tenant_id=tenant.id, retention_days=5) == 4
    lines = export_lines(tenant)
    assert verify(lines, tmp_path=tmp_path)[0]
    at = next(i for i, x in enumerate(lines) if json.loads(x).get("seq") == 6)
    forged = json.loads(lines[at])
    forged["prompt_tokens"] = 999
    lines.insert(at + 1, json.dumps(forged))
    ok, _ = verify(lines, tmp_path=tmp_path)
    assert not ok
