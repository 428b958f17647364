"""``GET /v1/audit/verify`` and ``GET /v1/audit/public-key`` (SPEC 5.7): the chain checked
online for the caller's tenant only, and a public key that verifies checkpoints by itself."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from forensics.models import RequestLog
from forensics.sealing import audit_seal_all
from tests.forensics.support import make_logs, tamper, tamper_checkpoints


@pytest.fixture
def sealed(tenant):
    records = make_logs(tenant.id, 10)
    assert audit_seal_all() == 10
    return records


def by_seq(tenant_id: str, seq: int) -> RequestLog:
    return RequestLog.objects.get(tenant_id=tenant_id, seq=seq)


def test_it_reports_an_intact_chain_with_its_latest_checkpoint(viewer_api, tenant, sealed):
    make_logs(tenant.id, 3)  # not sealed yet: not part of the answer

    body = viewer_api.get("/v1/audit/verify").json()

    assert (body["valid"], body["checked"], body["first_invalid"], body["problem"]) == (True, 10, None, None)
    assert set(body["checkpoint"]) == {"id", "kind", "seq", "chain_hash", "records", "created_at", "signature"}
    assert (body["checkpoint"]["kind"], body["checkpoint"]["seq"]) == ("seal", 10)
    assert body["checkpoint"]["chain_hash"] == by_seq(tenant.id, 10).chain_hash


def test_it_answers_for_a_tenant_without_records(owner_api):
    body = owner_api.get("/v1/audit/verify").json()

    assert body == {
        "valid": True, "checked": 0, "first_invalid": None, "problem": None, "checkpoint": None, "unsigned": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "blamed_seq"),
    [
        ("UPDATE forensics_requestlog SET status_code = 500 WHERE id = %s", 4),
        ("UPDATE forensics_requestlog SET completion_tokens = 0 WHERE id = %s", 4),
        ("DELETE FROM forensics_requestlog WHERE id = %s", 5),  # the one after the gap is blamed
    ],
    ids=["changed status", "changed tokens", "deleted"],
)
def test_it_names_the_first_invalid_record_after_tampering(owner_api, tenant, sealed, sql, blamed_seq):
    blamed = by_seq(tenant.id, blamed_seq).id
    tamper(sql, [by_seq(tenant.id, 4).id])

    body = owner_api.get("/v1/audit/verify").json()

    assert (body["valid"], body["first_invalid"]) == (False, blamed)
    assert body["problem"]


def test_it_verifies_the_callers_chain_only(owner_api, outsider_api, tenant, outsider, sealed):
    make_logs(outsider.id, 2)
    audit_seal_all()
    tamper("UPDATE forensics_requestlog SET status_code = 500 WHERE id = %s", [by_seq(tenant.id, 2).id])

    assert owner_api.get("/v1/audit/verify").json()["valid"] is False
    theirs = outsider_api.get("/v1/audit/verify").json()
    assert (theirs["valid"], theirs["checked"]) == (True, 2)


def test_the_public_key_verifies_a_checkpoint_signature(viewer_api, sealed):
    key = viewer_api.get("/v1/audit/public-key").json()
    checkpoint = viewer_api.get("/v1/audit/verify").json()["checkpoint"]
    public_key = load_pem_public_key(key["pem"].encode())
    # The signed statement, rebuilt from the documented fields alone (docs/forensics.md).
    fields = ("tenant_id", "kind", "seq", "chain_hash", "records", "created_at")
    statement = {name: checkpoint.get(name) for name in fields} | {"tenant_id": sealed[0].tenant_id}

    def signed(document: dict) -> bytes:
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    assert (key["object"], key["algorithm"]) == ("public_key", "Ed25519")
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    public_key.verify(base64.b64decode(checkpoint["signature"]), signed(statement))
    with pytest.raises(InvalidSignature):
        public_key.verify(base64.b64decode(checkpoint["signature"]), signed(statement | {"records": 11}))


def test_it_finds_the_newest_records_deleted_with_their_checkpoints(owner_api, tenant, sealed):
    """Without the checkpoint that signed them, the chain head still knows how far it went."""
    tamper("DELETE FROM forensics_requestlog WHERE tenant_id = %s AND seq > 7", [tenant.id])
    tamper_checkpoints("DELETE FROM forensics_auditcheckpoint WHERE tenant_id = %s", [tenant.id])

    body = owner_api.get("/v1/audit/verify").json()

    # What is left is hash-linked, but nothing signed vouches for it any more.
    assert (body["valid"], body["checked"]) == (False, 7)
    assert body["problem"] == "no signed checkpoint covers these records"


def test_it_still_verifies_after_retention_pruned_everything(owner_api, tenant, sealed):
    from datetime import timedelta

    from django.utils import timezone

    from forensics.sealing import audit_retention_apply

    assert audit_retention_apply(tenant_id=tenant.id, retention_days=1, now=timezone.now() + timedelta(days=2)) == 10

    body = owner_api.get("/v1/audit/verify").json()

    assert (body["valid"], body["checked"], body["checkpoint"]["kind"]) == (True, 0, "prune")
