"""One forensic record per proxied request (SPEC 6), for every kind of outcome, through the
live gateway: success (chat, stream, embeddings, models), refusals (401 under an app path,
403, 429, 400, 413), upstream failure, and a stream the client abandoned."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from apps.services import app_update, guardrails_put
from core.actors import SYSTEM
from forensics.models import RequestLog
from tests import factories
from tests.api.support import client_for
from tests.support.live_fixtures import chat
from tests.support.servers import chat_stream

IDENTITY = {"X-User-Email": "Alice@Example.com", "X-Conversation-Id": "conv-1", "X-Request-ID": "client-1"}


@pytest.fixture
def live(world):
    """The world with header identity on and one tenant-wide policy, so every field has a value."""
    app_update(app=world.app, actor=SYSTEM, data={"identity_header_mode": True})
    world.policy = factories.make_policy(world.tenant, tenant_wide=True, requests_per_minute=1000)
    return world


def only_record(world, response_or_id) -> RequestLog:
    """The one record of this request (the gateway's X-Request-ID), and no other of the tenant."""
    request_id = response_or_id if isinstance(response_or_id, str) else response_or_id.headers["x-request-id"]
    assert RequestLog.objects.filter(id=request_id).count() == 1
    return RequestLog.objects.get(id=request_id)


def assert_caller(record: RequestLog, world) -> None:
    assert (record.tenant_id, record.app_id, record.agent_id, record.key_id) == (
        world.tenant.id, world.app.id, world.agent.id, world.key.id,
    )  # fmt: skip
    assert record.credential == "key"
    assert (record.user, record.identity_source) == ("alice@example.com", "header")
    assert (record.conversation_id, record.client_request_id) == ("conv-1", "client-1")
    assert record.client_ip == "127.0.0.1"
    assert record.latency_ms > 0


def test_it_records_a_chat_completion_with_every_field(live):
    raw = live.sdk(default_headers=IDENTITY).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )

    record = only_record(live, raw)
    assert_caller(record, live)
    assert (record.endpoint, record.stream, record.status_code) == ("chat", False, 200)
    assert (record.error_code, record.error_reason) == (None, None)
    assert (record.model_requested, record.model_resolved, record.provider_id) == (
        "gpt-4o-mini", "gpt-4o-mini", live.provider.id,
    )  # fmt: skip
    assert (record.prompt_tokens, record.completion_tokens) == (5, 4)
    assert record.cost_usd > Decimal(0)
    assert 0 < record.upstream_latency_ms <= record.latency_ms
    assert record.user_agent.startswith("OpenAI/Python")
    assert record.policy_ids == [live.policy.id]
    assert (record.request_body, record.response_body) == (None, None)  # capture is off by default
    assert RequestLog.objects.filter(tenant_id=live.tenant.id).count() == 1


def test_it_records_a_stream_with_its_usage(live):
    with live.sdk(default_headers=IDENTITY).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as response:
        request_id = response.headers["x-request-id"]
        chunks = [line for line in response.iter_lines() if line]
    assert chunks[-1] == "data: [DONE]"

    record = only_record(live, request_id)
    assert_caller(record, live)
    assert (record.endpoint, record.stream, record.status_code, record.error_reason) == ("chat", True, 200, None)
    assert (record.prompt_tokens, record.completion_tokens) == (5, 3)
    assert record.upstream_latency_ms > 0


def test_it_records_embeddings(live):
    raw = live.sdk(default_headers=IDENTITY).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["a", "b"]
    )

    record = only_record(live, raw)
    assert_caller(record, live)
    assert (record.endpoint, record.status_code) == ("embeddings", 200)
    assert record.model_requested == "text-embedding-3-small"
    assert (record.prompt_tokens, record.completion_tokens, record.provider_id) == (3, 0, live.provider.id)


def test_it_records_a_model_list(live):
    raw = live.sdk(default_headers=IDENTITY).models.with_raw_response.list()

    record = only_record(live, raw)
    assert_caller(record, live)
    assert (record.endpoint, record.status_code, record.stream) == ("models", 200, False)
    assert (record.model_requested, record.provider_id, record.upstream_latency_ms) == (None, None, None)
    assert record.policy_ids == [live.policy.id]


@pytest.mark.parametrize(
    ("secret", "reason"),
    [("aid_sk_" + "x" * 40, "invalid_key"), (None, "missing_credential")],
    ids=["bad key", "no key"],
)
def test_it_records_a_401_under_an_app_path_for_the_apps_tenant(world, secret, reason):
    headers = {"X-API-Key": secret} if secret else {}
    response = world.http(**headers).post(f"/apps/{world.app.slug}/v1/chat/completions", json=chat())

    assert response.status_code == 401
    record = only_record(world, response)
    assert (record.tenant_id, record.app_id) == (world.tenant.id, world.app.id)
    assert (record.agent_id, record.key_id) == (None, None)
    assert (record.status_code, record.error_code, record.error_reason) == (401, "unauthorized", reason)
    assert (record.credential, record.user, record.endpoint) == (None, None, "chat")
    assert record.latency_ms > 0


def test_it_records_nothing_for_a_401_no_tenant_can_be_named_for(world):
    response = world.http(**{"X-API-Key": "aid_sk_" + "y" * 40}).post("/v1/chat/completions", json=chat())

    assert response.status_code == 401
    assert not RequestLog.objects.exists()


def test_it_records_a_403_with_the_refusing_policy(live):
    policy = factories.make_policy(live.tenant, tenant_wide=True, allowed_models=["gpt-4o*"])

    response = live.http(**{"X-API-Key": live.secret, **IDENTITY}).post("/v1/chat/completions", json=chat("o3-mini"))

    assert response.status_code == 403
    record = only_record(live, response)
    assert_caller(record, live)
    assert (record.status_code, record.error_code, record.error_reason) == (403, "forbidden", "model_not_allowed")
    assert (record.model_requested, record.provider_id, record.upstream_latency_ms) == ("o3-mini", None, None)
    assert sorted(record.policy_ids) == sorted([live.policy.id, policy.id])
    assert live.upstream.requests == []


def test_it_records_a_429_from_requests_per_minute(live):
    policy = factories.make_policy(live.tenant, tenant_wide=True, requests_per_minute=1)
    client = live.http(**{"X-API-Key": live.secret, **IDENTITY})

    first, second = client.post("/v1/chat/completions", json=chat()), client.post("/v1/chat/completions", json=chat())

    assert (first.status_code, second.status_code) == (200, 429)
    record = only_record(live, second)
    assert_caller(record, live)
    assert (record.status_code, record.error_code, record.error_reason) == (429, "rate_limited", "requests_per_minute")
    assert policy.id in record.policy_ids
    assert (record.prompt_tokens, record.completion_tokens, record.provider_id) == (0, 0, None)
    assert RequestLog.objects.filter(tenant_id=live.tenant.id).count() == 2


def test_it_records_a_400_for_a_bad_body(live):
    response = live.http(**{"X-API-Key": live.secret, **IDENTITY}).post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": "hi"}
    )

    assert response.status_code == 400
    record = only_record(live, response)
    assert_caller(record, live)
    assert (record.status_code, record.error_code, record.provider_id) == (400, "invalid_request", None)


def test_it_records_a_413(live):
    live.gateway.app.proxy.runtime.max_request_bytes = 1000

    response = live.http(**{"X-API-Key": live.secret, **IDENTITY}).post(
        "/v1/chat/completions", json=chat(messages=[{"role": "user", "content": "x" * 2000}])
    )

    assert response.status_code == 413
    record = only_record(live, response)
    assert_caller(record, live)
    assert (record.status_code, record.error_code) == (413, "request_too_large")


def test_it_records_an_upstream_failure(live):
    live.upstream.behaviour["/v1/chat/completions"] = lambda r: {"status": 500, "json": {"error": {"message": "x"}}}

    response = live.http(**{"X-API-Key": live.secret, **IDENTITY}).post("/v1/chat/completions", json=chat())

    assert response.status_code == 502
    record = only_record(live, response)
    assert_caller(record, live)
    assert (record.status_code, record.error_code) == (502, "upstream_error")
    assert (record.provider_id, record.model_resolved) == (live.provider.id, "gpt-4o-mini")
    assert record.upstream_latency_ms > 0
    assert (record.prompt_tokens, record.completion_tokens, record.cost_usd) == (0, 0, Decimal(0))


def test_it_records_a_stream_the_client_abandoned(live):
    words = [f" w{i}" for i in range(200)]
    live.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "stream": chat_stream("gpt-4o-mini", words), "chunk_delay": 0.05,
    }  # fmt: skip
    with (
        httpx.Client(base_url=live.gateway.url, timeout=10) as client,
        client.stream(
            "POST", "/v1/chat/completions", json=chat(stream=True), headers={"X-API-Key": live.secret, **IDENTITY}
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("data:"))

    # Written when the gateway notices the client has gone, which it does within moments (SPEC: 2 s).
    deadline = time.monotonic() + 2
    while not RequestLog.objects.filter(id=request_id).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    record = only_record(live, request_id)
    assert_caller(record, live)
    assert (record.status_code, record.error_reason, record.stream) == (200, "client_disconnected", True)
    assert record.provider_id == live.provider.id


def test_it_captures_bodies_after_redaction_when_the_app_asks(live):
    app_update(app=live.app, actor=SYSTEM, data={"capture_bodies": True, "body_capture_max_bytes": 4096})
    guardrails_put(app=live.app, actor=SYSTEM, data={"pii": "redact"})
    body = chat(messages=[{"role": "user", "content": "mail me at carol@example.org"}])

    response = live.http(**{"X-API-Key": live.secret, **IDENTITY}).post("/v1/chat/completions", json=body)

    record = only_record(live, response)
    assert "carol@example.org" not in record.request_body
    assert "[REDACTED:email]" in record.request_body
    assert "Hello from upstream" in record.response_body
    detail = client_for(factories.make_org_key(live.tenant)[1]).get(f"/v1/logs/{record.id}").json()
    assert (detail["request_body"], detail["response_body"]) == (record.request_body, record.response_body)


def test_a_record_is_readable_through_the_api_as_soon_as_the_response_arrives(live):
    api = client_for(factories.make_org_key(live.tenant, role="viewer")[1])
    proxy = live.http(**{"X-API-Key": live.secret, "X-Request-ID": "read-me-now"})

    for _ in range(5):
        response = proxy.post("/v1/chat/completions", json=chat())
        # No waiting at all: the record was committed before the response was sent (SPEC: 2 s).
        listed = api.get("/v1/logs", {"client_request_id": "read-me-now", "limit": 100}).json()["data"]
        assert response.headers["x-request-id"] in {item["id"] for item in listed}
        assert api.get(f"/v1/logs/{response.headers['x-request-id']}").status_code == 200
