"""The sealer's fast path: plain rows in, one statement out, hashes every verifier agrees
with; one sealer at a time per PostgreSQL database, the others skipping their pass."""

from __future__ import annotations

import io
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from forensics import sealing
from forensics.canonical import CHAINED_FIELDS, record_document, row_document
from forensics.export import export_jsonl
from forensics.models import AuditCheckpoint, RequestLog
from forensics.sealing import audit_chain_verify, audit_seal_all, seal_window_since, tenant_chain_seal
from forensics.signing import public_key_pem
from tests.forensics.support import make_logs, record
from tests.support.requirements import needs_postgresql

pytestmark = pytest.mark.django_db(transaction=True)
LOG_UPDATE = re.compile(r'UPDATE "?forensics_requestlog"?')


def odd_records(tenant_id: str) -> list[RequestLog]:
    """Records with every kind of value the canonical document has to get right."""
    start = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)
    records = [
        record(tenant_id, created_at=start),
        record(
            tenant_id, created_at=start + timedelta(microseconds=1), user='zoë,"x"\\y@exämple.com', stream=True,
            client_request_id="a,b", conversation_id="conv 1", credential="jwt", identity_source="jwt",
            status_code=429, error_code="rate_limited", error_reason="rpm", cost_usd=Decimal("123456.12345678"),
            latency_ms=0.1 + 0.2, upstream_latency_ms=1234.56789, policy_ids=["pol_b", "pol_a"],
            fail_open=[{"reason": "timeout", "policy": "pol_x", "after_ms": 2.5}], prompt_tokens=2**31 - 1,
            request_body='{"messages": [{"content": "héllo\\n🙂"}]}', response_body="", client_ip="2001:db8::1",
            user_agent="ua/1.0 (x; y)",
        ),
        record(tenant_id, created_at=start + timedelta(seconds=1), cost_usd=Decimal("0"), latency_ms=0, policy_ids=[],
               model_requested=None, model_resolved=None, credential=None),
    ]  # fmt: skip
    RequestLog.objects.bulk_create(records)
    return records


def queries_on(captured: CaptureQueriesContext, table: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if table in q["sql"]]


def test_the_sealers_rows_make_the_same_document_as_instances(tenant):
    odd_records(tenant.id)
    rows = RequestLog.objects.filter(tenant_id=tenant.id).order_by("created_at", "id").values_list(*CHAINED_FIELDS)
    instances = RequestLog.objects.filter(tenant_id=tenant.id).order_by("created_at", "id")
    assert [row_document(row) for row in rows] == [record_document(instance) for instance in instances]


def test_its_hashes_verify_online_and_with_verify_audit_file(tenant, tmp_path):
    odd_records(tenant.id)
    make_logs(tenant.id, 20)
    assert audit_seal_all() == 23

    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.checked, verdict.first_invalid) == (True, 23, None)
    export, key = tmp_path / "export.jsonl", tmp_path / "key.pem"
    export.write_bytes(
        b"".join(export_jsonl(RequestLog.objects.filter(tenant_id=tenant.id), tenant_id=tenant.id, complete=True))
    )
    key.write_text(public_key_pem())
    out = io.StringIO()
    call_command("verify_audit", "--file", str(export), "--public-key", str(key), stdout=out)
    assert "valid, 23 records" in out.getvalue()


def test_it_writes_a_batch_in_one_statement_and_only_locks_an_existing_head(tenant):
    make_logs(tenant.id, 1)
    assert tenant_chain_seal(tenant_id=tenant.id) == 1  # the head exists from here on
    make_logs(tenant.id, 1200, start=timezone.now())

    with CaptureQueriesContext(connection) as captured:
        assert tenant_chain_seal(tenant_id=tenant.id) == 1200

    assert len([sql for sql in queries_on(captured, "forensics_requestlog") if LOG_UPDATE.search(sql)]) == 1
    head = queries_on(captured, "forensics_auditchainhead")
    assert [sql.split()[0] for sql in head] == ["SELECT", "UPDATE"]
    assert audit_chain_verify(tenant_id=tenant.id).checked == 1201


def test_a_pass_seals_each_pending_tenant_once(tenant, outsider):
    make_logs(tenant.id, 1)
    make_logs(outsider.id, 1)
    assert audit_seal_all() == 2  # the heads exist from here on
    make_logs(tenant.id, 30, start=timezone.now())
    make_logs(outsider.id, 5, start=timezone.now())

    with CaptureQueriesContext(connection) as captured:
        assert audit_seal_all() == 35

    head_locks = [sql for sql in queries_on(captured, "forensics_auditchainhead") if sql.startswith("SELECT")]
    assert len(head_locks) == 2
    assert AuditCheckpoint.objects.filter(tenant_id__in=[tenant.id, outsider.id]).count() == 4


def chain_links(tenant_id: str) -> list[dict]:
    return list(RequestLog.objects.filter(tenant_id=tenant_id).order_by("seq").values("seq", "prev_hash", "chain_hash"))


def assert_gapless(tenant_id: str, count: int) -> None:
    links = chain_links(tenant_id)
    assert [link["seq"] for link in links] == list(range(1, count + 1))
    assert [link["prev_hash"] for link in links[1:]] == [link["chain_hash"] for link in links[:-1]]
    verdict = audit_chain_verify(tenant_id=tenant_id)
    assert (verdict.valid, verdict.checked) == (True, count)


def test_a_pass_looks_at_the_last_day_and_leaves_older_records_to_the_hourly_full_sweep(tenant, monkeypatch):
    now = timezone.now()
    make_logs(tenant.id, 1, start=now - timedelta(days=3))
    make_logs(tenant.id, 2, start=now - timedelta(minutes=1))
    monkeypatch.setattr(sealing, "_full_sweep_due", time.monotonic() + 60)
    assert audit_seal_all(since=seal_window_since()) == 2
    monkeypatch.setattr(sealing, "_full_sweep_due", 0.0)
    assert audit_seal_all(since=seal_window_since()) == 1
    assert sealing._full_sweep_due > time.monotonic() + 3000  # the next full sweep is an hour away
    assert audit_chain_verify(tenant_id=tenant.id).valid


@needs_postgresql  # advisory locks are PostgreSQL's
def test_a_second_sealer_skips_its_pass_while_another_seals(tenant, outsider, monkeypatch):
    make_logs(tenant.id, 20)
    make_logs(outsider.id, 20)
    inside, release = threading.Event(), threading.Event()
    checkpoint_write = sealing.checkpoint_write

    def checkpoint_write_held(**fields):
        # The first sealer stops inside its first batch, holding the sealer lock.
        if threading.current_thread().name == "first" and not inside.is_set():
            inside.set()
            release.wait(30)
        return checkpoint_write(**fields)

    monkeypatch.setattr(sealing, "checkpoint_write", checkpoint_write_held)
    sealed: dict[str, int | BaseException] = {}

    def seal() -> None:
        name = threading.current_thread().name
        try:
            sealed[name] = audit_seal_all()
        except BaseException as exc:  # reported by the test thread
            sealed[name] = exc
        finally:
            connection.close()

    first = threading.Thread(target=seal, name="first")
    first.start()
    try:
        assert inside.wait(10)
        second = threading.Thread(target=seal, name="second")
        second.start()
        second.join(10)
        assert not second.is_alive(), "the second sealer waited instead of skipping its pass"
        assert sealed["second"] == 0
        assert RequestLog.objects.filter(sealed_at__isnull=False).count() == 0
    finally:
        release.set()
        first.join(30)
    assert sealed["first"] == 40
    assert_gapless(tenant.id, 20)
    assert_gapless(outsider.id, 20)
    assert AuditCheckpoint.objects.filter(tenant_id__in=[tenant.id, outsider.id]).count() == 2


@needs_postgresql  # advisory locks are PostgreSQL's
def test_racing_passes_build_each_chain_once(tenant, outsider):
    tenants = [tenant.id, outsider.id]
    for tenant_id in tenants:
        make_logs(tenant_id, 300)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def seal() -> None:
        try:
            barrier.wait(5)
            while RequestLog.objects.filter(sealed_at__isnull=True).exists():
                audit_seal_all()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=seal) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for tenant_id in tenants:
        assert_gapless(tenant_id, 300)
        checkpoints = AuditCheckpoint.objects.filter(tenant_id=tenant_id).values_list("records", flat=True)
        assert sum(checkpoints) == 300
