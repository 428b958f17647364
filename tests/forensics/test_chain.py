"""Tamper evidence (SPEC 6): sealing, verification online and offline, tampering of every
kind, the database's own refusal on PostgreSQL, and retention."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.ids import new_id
from forensics.export import export_jsonl, export_verify_file
from forensics.models import AuditCheckpoint, Event, RequestLog
from forensics.sealing import audit_chain_verify, audit_retention_apply, audit_seal_all, tenant_chain_seal
from forensics.signing import public_key_pem
from tests.support.requirements import needs_postgresql

pytestmark = pytest.mark.django_db(transaction=True)


def make_records(tenant_id: str, count: int, *, start=None, step=timedelta(seconds=1)) -> list[RequestLog]:
    start = start or timezone.now() - timedelta(hours=1)
    records = [
        RequestLog(
            id=new_id("req"), tenant_id=tenant_id, created_at=start + i * step, endpoint="chat", status_code=200,
            model_requested="gpt-4o", prompt_tokens=i, completion_tokens=2 * i, cost_usd=Decimal("0.00012345"),
            latency_ms=1.234 + i, user=f"user{i % 3}@example.com", policy_ids=["pol_x"],
        )
        for i in range(count)
    ]  # fmt: skip
    RequestLog.objects.bulk_create(records)
    return records


@pytest.fixture
def chain(tenant):
    records = make_records(tenant.id, 10)
    assert audit_seal_all() == 10
    return tenant, records


def raw(sql: str, params: list) -> None:
    """Tamper as an attacker with database access would: on PostgreSQL, triggers off first."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE forensics_requestlog DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE forensics_requestlog ENABLE TRIGGER USER")


def by_seq(tenant_id: str, seq: int) -> RequestLog:
    return RequestLog.objects.get(tenant_id=tenant_id, seq=seq)


def offline_verdict(tenant_id: str):
    data = b"".join(export_jsonl(RequestLog.objects.filter(tenant_id=tenant_id), tenant_id=tenant_id, complete=True))
    return export_verify_file(data.decode().splitlines, None).verdict


def test_it_seals_records_into_a_contiguous_chain_with_a_signed_checkpoint(chain):
    tenant, _ = chain
    seqs = list(RequestLog.objects.filter(tenant_id=tenant.id).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 11))
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.checked, verdict.first_invalid) == (True, 10, None)
    assert verdict.checkpoint["seq"] == 10
    assert offline_verdict(tenant.id).valid


def test_it_continues_the_chain_across_sealing_runs(chain):
    tenant, _ = chain
    make_records(tenant.id, 5, start=timezone.now())
    assert tenant_chain_seal(tenant_id=tenant.id) == 5
    assert audit_chain_verify(tenant_id=tenant.id).checked == 15
    assert AuditCheckpoint.objects.filter(tenant_id=tenant.id).count() == 2


def test_it_keeps_tenants_chains_apart(chain, outsider):
    tenant, _ = chain
    make_records(outsider.id, 3)
    audit_seal_all()
    assert audit_chain_verify(tenant_id=outsider.id).checked == 3
    assert audit_chain_verify(tenant_id=tenant.id).checked == 10


@pytest.mark.parametrize(
    ("column", "value"), [("status_code", 403), ("prompt_tokens", 0), ("user", "someone-else@example.com"),
                          ("cost_usd", "0"), ("model_requested", "gpt-3.5")],
)  # fmt: skip
def test_it_finds_a_changed_record(chain, column, value):
    tenant, _ = chain
    target = by_seq(tenant.id, 4)
    raw(f'UPDATE forensics_requestlog SET "{column}" = %s WHERE id = %s', [value, target.id])  # noqa: S608
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.first_invalid) == (False, target.id)
    offline = offline_verdict(tenant.id)
    assert (offline.valid, offline.first_invalid) == (False, target.id)


def test_it_finds_a_record_whose_hash_was_recomputed_to_match(chain):
    """Rewriting a record and its own hash still breaks the link to the next record."""
    from forensics.canonical import chain_hash, record_document

    tenant, _ = chain
    target = by_seq(tenant.id, 4)
    target.status_code = 500
    forged = chain_hash(target.prev_hash, 4, record_document(target))
    raw("UPDATE forensics_requestlog SET status_code = 500, chain_hash = %s WHERE id = %s", [forged, target.id])
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.first_invalid) == (False, by_seq(tenant.id, 5).id)


def test_it_finds_a_deleted_record(chain):
    tenant, _ = chain
    victim, successor = by_seq(tenant.id, 6), by_seq(tenant.id, 7)
    raw("DELETE FROM forensics_requestlog WHERE id = %s", [victim.id])
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.first_invalid) == (False, successor.id)
    assert offline_verdict(tenant.id).first_invalid == successor.id


def test_it_finds_the_newest_records_deleted(chain):
    tenant, _ = chain
    raw("DELETE FROM forensics_requestlog WHERE tenant_id = %s AND seq >= %s", [tenant.id, 9])
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert verdict.valid is False
    assert "deleted" in verdict.problem


def test_it_finds_reordered_records(chain):
    tenant, _ = chain
    a, b = by_seq(tenant.id, 3), by_seq(tenant.id, 5)
    raw("UPDATE forensics_requestlog SET seq = NULL WHERE id = %s", [a.id])
    raw("UPDATE forensics_requestlog SET seq = 3 WHERE id = %s", [b.id])
    raw("UPDATE forensics_requestlog SET seq = 5 WHERE id = %s", [a.id])
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.first_invalid) == (False, b.id)


def test_it_finds_a_forged_checkpoint(chain):
    tenant, _ = chain
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE forensics_auditcheckpoint DISABLE TRIGGER USER")
        cursor.execute("UPDATE forensics_auditcheckpoint SET records = 99 WHERE tenant_id = %s", [tenant.id])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE forensics_auditcheckpoint ENABLE TRIGGER USER")
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert verdict.valid is False
    assert "signature" in verdict.problem


@needs_postgresql  # the refusing triggers are PostgreSQL's
def test_postgresql_refuses_update_and_delete_of_sealed_records_and_checkpoints(chain):
    tenant, _ = chain
    sealed = by_seq(tenant.id, 1)
    for statement in ("UPDATE forensics_requestlog SET status_code = 1 WHERE id = %s",
                      "DELETE FROM forensics_requestlog WHERE id = %s"):  # fmt: skip
        with pytest.raises(DatabaseError, match=r"append-only|only by retention"), transaction.atomic():
            connection.cursor().execute(statement, [sealed.id])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        connection.cursor().execute("DELETE FROM forensics_auditcheckpoint WHERE tenant_id = %s", [tenant.id])
    # Not yet sealed records may still be sealed (updated) by the sealer.
    make_records(tenant.id, 1, start=timezone.now())
    assert audit_seal_all() == 1


def test_retention_prunes_a_prefix_and_the_chain_still_verifies(tenant):
    now = timezone.now()
    make_records(tenant.id, 5, start=now - timedelta(days=400), step=timedelta(days=1))
    make_records(tenant.id, 5, start=now - timedelta(days=10), step=timedelta(days=1))
    audit_seal_all()
    assert audit_retention_apply(tenant_id=tenant.id, retention_days=365, now=now) == 5
    assert RequestLog.objects.filter(tenant_id=tenant.id).count() == 5
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.checked) == (True, 5)
    prune = AuditCheckpoint.objects.get(tenant_id=tenant.id, kind="prune")
    assert (prune.seq, prune.records) == (5, 5)
    assert Event.objects.filter(tenant_id=tenant.id, action="logs.pruned").exists()
    assert offline_verdict(tenant.id).valid


def test_verify_audit_command_exits_non_zero_on_a_broken_chain(chain):
    tenant, _ = chain
    out = io.StringIO()
    call_command("verify_audit", "--tenant", tenant.id, stdout=out)
    assert "valid, 10 records" in out.getvalue()
    raw("UPDATE forensics_requestlog SET status_code = 418 WHERE id = %s", [by_seq(tenant.id, 2).id])
    with pytest.raises(CommandError):
        call_command("verify_audit", "--tenant", tenant.id, stdout=io.StringIO())


def test_verify_audit_checks_an_export_offline_with_a_given_public_key(chain, tmp_path):
    tenant, _ = chain
    export = tmp_path / "export.jsonl"
    export.write_bytes(
        b"".join(export_jsonl(RequestLog.objects.filter(tenant_id=tenant.id), tenant_id=tenant.id, complete=True))
    )
    key = tmp_path / "key.pem"
    key.write_text(public_key_pem())
    out = io.StringIO()
    call_command("verify_audit", "--file", str(export), "--public-key", str(key), stdout=out)
    assert "valid, 10 records" in out.getvalue()

    lines = export.read_text().splitlines()
    record = json.loads(lines[3])
    record["completion_tokens"] = 0
    lines[3] = json.dumps(record)
    export.write_text("\n".join(lines))
    with pytest.raises(CommandError):
        call_command("verify_audit", "--file", str(export), "--public-key", str(key), stdout=io.StringIO())


def test_an_export_signed_by_another_key_does_not_verify(chain, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    tenant, _ = chain
    data = b"".join(export_jsonl(RequestLog.objects.filter(tenant_id=tenant.id), tenant_id=tenant.id, complete=True))
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verdict = export_verify_file(data.decode().splitlines, other.decode()).verdict
    assert verdict.valid is False
