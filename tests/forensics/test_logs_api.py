"""The logs API (SPEC 5.7): filters, newest-first cursor pages, one agent's logs, one record,
and who may read them (admin and viewer org keys; never an agent key or another tenant)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.actors import SYSTEM
from forensics.models import RequestLog
from identity.services import agent_delete
from tests import factories
from tests.api.support import assert_error
from tests.forensics.support import make_logs, record

SPEC_FIELDS = {
    "id", "object", "created_at", "client_request_id", "tenant_id", "app_id", "agent_id", "key_id", "credential",
    "user", "identity_source", "conversation_id", "endpoint", "model_requested", "model_resolved", "provider_id",
    "stream", "status_code", "error_code", "error_reason", "prompt_tokens", "completion_tokens", "cost_usd",
    "latency_ms", "upstream_latency_ms", "client_ip", "user_agent", "policy_ids",
}  # fmt: skip
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def sample(tenant):
    """Three records that differ in every filtered field, oldest first: a, b, c."""
    rows = {
        "a": record(tenant.id, created_at=NOW - timedelta(hours=3), user="alice@example.com", conversation_id="conv-1",
                    client_request_id="client-1", app_id="app_one", model_requested="gpt-4o", agent_id="ag_one",
                    endpoint="messages"),
        "b": record(tenant.id, created_at=NOW - timedelta(hours=2), user="bob@example.com", conversation_id="conv-2",
                    client_request_id="client-2", app_id="app_two", model_requested="claude-3", agent_id="ag_two",
                    status_code=429, error_code="rate_limited", error_reason="requests_per_minute",
                    endpoint="responses"),
        "c": record(tenant.id, created_at=NOW - timedelta(hours=1), user="alice@example.com", conversation_id="conv-1",
                    client_request_id="client-3", app_id="app_one", model_requested="claude-3", agent_id="ag_one",
                    status_code=502, error_code="upstream_error", endpoint="chat"),
    }  # fmt: skip
    for row in rows.values():
        row.save()
    return {name: row.id for name, row in rows.items()}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["data"]]


def stamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "cba"),
        ("user=alice@example.com", "ca"),
        ("conversation_id=conv-2", "b"),
        ("client_request_id=client-3", "c"),
        ("app_id=app_one", "ca"),
        ("model=claude-3", "cb"),
        ("status=429", "b"),
        ("status=200", "a"),
        ("error_code=upstream_error", "c"),
        ("endpoint=messages", "a"),
        ("endpoint=responses", "b"),
        ("endpoint=chat", "c"),
        ("endpoint=embeddings", ""),
        ("endpoint=responses&status=429", "b"),
        ("since={b}", "cb"),
        ("until={b}", "a"),
        ("since={a}&until={c}", "ba"),
        ("user=alice@example.com&model=claude-3", "c"),
        ("user=nobody@example.com", ""),
    ],
)
def test_it_filters_logs_newest_first(owner_api, sample, query, expected):
    times = {"a": NOW - timedelta(hours=3), "b": NOW - timedelta(hours=2), "c": NOW - timedelta(hours=1)}
    query = query.format(**{name: stamp(at) for name, at in times.items()})

    assert ids(owner_api.get(f"/v1/logs?{query}")) == [sample[name] for name in expected]


def test_it_accepts_an_offset_in_since(owner_api, sample):
    one_hour_ahead = (NOW - timedelta(hours=2)).astimezone(timezone.get_fixed_timezone(60)).isoformat()

    response = owner_api.get("/v1/logs", {"since": one_hour_ahead})

    assert ids(response) == [sample["c"], sample["b"]]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("status=abc", "invalid_request"),
        ("status=99", "invalid_request"),
        ("since=yesterday", "invalid_request"),
        ("until=2026-13-01T00:00:00Z", "invalid_request"),
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "invalid_request"),
        ("user=" + "x" * 400, "invalid_request"),
        ("modle=gpt-4o", "unknown_field"),
        ("endpoint=completions", "invalid_request"),
        ("limit=0", "invalid_limit"),
        ("after=req_doesnotexist000", "invalid_cursor"),
    ],
)
def test_it_refuses_bad_filter_values(owner_api, sample, query, reason):
    assert_error(owner_api.get(f"/v1/logs?{query}"), 400, "invalid_request", reason)


def test_it_walks_250_records_newest_first_without_gaps_or_repeats(owner_api, tenant):
    # Pairs share a timestamp: the id breaks the tie, so pages never split or repeat a pair.
    start = NOW - timedelta(days=1)
    records = [record(tenant.id, created_at=start + timedelta(seconds=i // 2)) for i in range(250)]
    RequestLog.objects.bulk_create(records)
    expected = [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)]

    seen, after, pages = [], None, []
    while True:
        body = owner_api.get("/v1/logs", {"limit": 100, **({"after": after} if after else {})}).json()
        seen += [item["id"] for item in body["data"]]
        pages.append((len(body["data"]), body["has_more"]))
        if not body["has_more"]:
            break
        after = body["last_id"]

    assert seen == expected
    assert pages == [(100, True), (100, True), (50, False)]


def test_it_clamps_the_page_size_to_100(owner_api, tenant):
    make_logs(tenant.id, 120)

    body = owner_api.get("/v1/logs?limit=500").json()

    assert (len(body["data"]), body["has_more"]) == (100, True)


def test_it_pages_filtered_logs_with_the_filter_kept(owner_api, tenant):
    make_logs(tenant.id, 30, user="alice@example.com")
    make_logs(tenant.id, 30, user="bob@example.com")

    first = owner_api.get("/v1/logs?user=alice@example.com&limit=20").json()
    second = owner_api.get(f"/v1/logs?user=alice@example.com&limit=20&after={first['last_id']}").json()

    assert len({i["id"] for i in first["data"] + second["data"]}) == 30
    assert {i["user"] for i in first["data"] + second["data"]} == {"alice@example.com"}
    assert second["has_more"] is False


def test_it_lists_one_agents_logs_only(owner_api, tenant):
    agent, other = factories.make_agent(tenant), factories.make_agent(tenant)
    mine = make_logs(tenant.id, 3, agent_id=agent.id)
    make_logs(tenant.id, 4, agent_id=other.id)

    response = owner_api.get(f"/v1/agents/{agent.id}/logs")

    assert sorted(ids(response)) == sorted(r.id for r in mine)


def test_it_applies_filters_to_one_agents_logs(owner_api, tenant):
    agent = factories.make_agent(tenant)
    make_logs(tenant.id, 2, agent_id=agent.id, status_code=200)
    refused = make_logs(tenant.id, 1, agent_id=agent.id, status_code=403, error_code="forbidden")
    make_logs(tenant.id, 2, status_code=403, error_code="forbidden")

    assert ids(owner_api.get(f"/v1/agents/{agent.id}/logs?status=403")) == [refused[0].id]


def test_it_keeps_a_deleted_agents_logs_readable(owner_api, tenant):
    agent = factories.make_agent(tenant)
    kept = make_logs(tenant.id, 2, agent_id=agent.id)
    agent_delete(agent=agent, actor=SYSTEM)

    assert sorted(ids(owner_api.get(f"/v1/agents/{agent.id}/logs"))) == sorted(r.id for r in kept)


def test_it_answers_404_for_an_unknown_agent(owner_api):
    assert_error(owner_api.get("/v1/agents/ag_doesnotexist0000/logs"), 404, "not_found")


def test_it_shows_one_record_with_every_field_of_the_spec(owner_api, tenant):
    row = record(tenant.id, request_body='{"model":"gpt-4o"}', response_body='{"id":"x"}', policy_ids=["pol_a"])
    row.save()

    body = owner_api.get(f"/v1/logs/{row.id}").json()

    assert set(body) >= SPEC_FIELDS
    assert {"seq", "chain_hash", "prev_hash", "sealed", "sealed_at", "request_body", "response_body"} <= set(body)
    assert (body["object"], body["id"], body["sealed"], body["seq"]) == ("log", row.id, False, None)
    assert (body["request_body"], body["response_body"]) == ('{"model":"gpt-4o"}', '{"id":"x"}')
    assert (body["cost_usd"], body["policy_ids"]) == ("0.00012345", ["pol_a"])


def test_it_shows_the_chain_values_once_sealed(owner_api, tenant):
    from forensics.sealing import audit_seal_all

    row = make_logs(tenant.id, 1)[0]
    audit_seal_all()

    body = owner_api.get(f"/v1/logs/{row.id}").json()

    assert (body["sealed"], body["seq"], body["prev_hash"]) == (True, 1, "0" * 64)
    assert len(body["chain_hash"]) == 64


def test_it_leaves_bodies_out_of_lists_and_does_not_load_them(owner_api, tenant):
    make_logs(tenant.id, 3, request_body="x" * 5000)

    with CaptureQueriesContext(connection) as queries:
        body = owner_api.get("/v1/logs").json()

    assert "request_body" not in body["data"][0]
    listing = [q["sql"] for q in queries.captured_queries if "forensics_requestlog" in q["sql"]]
    assert listing
    assert not any("request_body" in sql for sql in listing)


def test_it_lets_a_viewer_read_logs(viewer_api, sample):
    assert ids(viewer_api.get("/v1/logs")) == [sample["c"], sample["b"], sample["a"]]
    assert viewer_api.get(f"/v1/logs/{sample['a']}").status_code == 200


FORENSIC_READS = [
    "/v1/logs",
    "/v1/logs/{a}",
    "/v1/agents/{agent}/logs",
    "/v1/logs/export",
    "/v1/logs/export?format=csv",
    "/v1/audit/verify",
    "/v1/audit/public-key",
]


@pytest.fixture
def paths(tenant, sample):
    agent = factories.make_agent(tenant)
    return {"a": sample["a"], "agent": agent.id}


@pytest.mark.parametrize("path", FORENSIC_READS)
def test_a_viewer_may_call_every_forensic_endpoint(viewer_api, paths, path):
    assert viewer_api.get(path.format(**paths)).status_code == 200


@pytest.mark.parametrize("path", FORENSIC_READS)
def test_an_agent_key_is_refused_on_every_forensic_endpoint(agent_key_api, paths, path):
    assert_error(agent_key_api.get(path.format(**paths)), 403, "forbidden", "wrong_credential_type")


@pytest.mark.parametrize("path", FORENSIC_READS)
def test_no_credential_is_refused_on_every_forensic_endpoint(client, paths, path):
    assert_error(client.get(path.format(**paths)), 401, "unauthorized", "missing_credential")


def test_an_outsider_gets_404_for_a_foreign_record_and_agent(outsider_api, tenant, sample):
    agent = factories.make_agent(tenant)

    assert_error(outsider_api.get(f"/v1/logs/{sample['a']}"), 404, "not_found")
    assert_error(outsider_api.get(f"/v1/agents/{agent.id}/logs"), 404, "not_found")


def test_an_outsider_never_sees_the_owners_records(outsider_api, outsider, sample):
    own = make_logs(outsider.id, 2)

    assert sorted(ids(outsider_api.get("/v1/logs?limit=100"))) == sorted(r.id for r in own)
    assert ids(outsider_api.get("/v1/logs?user=alice@example.com")) == []
    # The owner's id is no cursor of the outsider's list either.
    assert_error(outsider_api.get(f"/v1/logs?after={sample['a']}"), 400, "invalid_request", "invalid_cursor")
    export = b"".join(outsider_api.get("/v1/logs/export").streaming_content).decode()
    assert not any(owner_id in export for owner_id in sample.values())


def test_it_documents_the_forensic_endpoints(client, db):
    schema = client.get("/api/schema?format=json").json()
    paths = schema["paths"]

    filters = {"since", "until", "user", "conversation_id", "client_request_id", "app_id", "model", "status",
               "error_code"}  # fmt: skip
    for path in ("/v1/logs", "/v1/agents/{agent_id}/logs"):
        assert filters | {"limit", "after"} <= {p["name"] for p in paths[path]["get"]["parameters"]}, path
    assert filters | {"format"} <= {p["name"] for p in paths["/v1/logs/export"]["get"]["parameters"]}
    export = paths["/v1/logs/export"]["get"]["responses"]
    assert {"application/x-ndjson", "text/csv"} == set(export["200"]["content"])
    assert "400" in export
    log = paths["/v1/logs/{request_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(schema["components"]["schemas"][log["$ref"].rsplit("/", 1)[1]]["properties"]) >= SPEC_FIELDS
    verify = schema["components"]["schemas"]["AuditVerification"]["properties"]
    assert {"valid", "checked", "first_invalid", "checkpoint"} <= set(verify)
    assert "pem" in schema["components"]["schemas"]["PublicKey"]["properties"]
