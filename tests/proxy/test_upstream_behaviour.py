"""Routing, fallbacks, timeouts, streaming disconnects and the wire details of SPEC 3.6-3.7."""

from __future__ import annotations

import time

import httpx
import pytest

from forensics.models import RequestLog
from tests import factories
from tests.support.live_fixtures import chat
from tests.support.servers import FakeUpstream, chat_completion, chat_stream


@pytest.fixture
def second_upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


def alias_over(world, *providers, name: str = "smart") -> None:
    factories.make_alias(world.tenant, [{"provider_id": p.id, "model": "gpt-4o-mini"} for p in providers], alias=name)


def test_it_falls_back_to_the_next_target_when_the_first_answers_500(world, second_upstream):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {"status": 500, "json": {"error": {"message": "down"}}}
    backup = factories.make_provider(world.tenant, kind="openai", base_url=second_upstream.url + "/v1")
    alias_over(world, world.provider, backup)
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("smart"))
    assert response.status_code == 200
    assert len(world.upstream.requests) == 1
    assert len(second_upstream.requests) == 1
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.model_requested, record.model_resolved, record.provider_id) == ("smart", "gpt-4o-mini", backup.id)


def test_it_falls_back_when_the_first_target_is_unreachable(world, second_upstream):
    dead = factories.make_provider(world.tenant, kind="openai", base_url="http://127.0.0.1:9/v1")
    backup = factories.make_provider(world.tenant, kind="openai", base_url=second_upstream.url + "/v1")
    alias_over(world, dead, backup)
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("smart"))
    assert response.status_code == 200


def test_it_falls_back_on_429_and_answers_429_when_nothing_is_left(world, second_upstream):
    limited = {"status": 429, "json": {"error": {"message": "quota"}}}
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: limited
    second_upstream.behaviour["/v1/chat/completions"] = lambda r: limited
    backup = factories.make_provider(world.tenant, kind="openai", base_url=second_upstream.url + "/v1")
    alias_over(world, world.provider, backup)
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("smart"))
    assert response.status_code == 429
    assert response.json()["error"]["reason"] == "upstream_rate_limited"
    assert len(second_upstream.requests) == 1


def test_it_answers_502_when_every_target_fails(world, second_upstream):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {"status": 503, "json": {}}
    second_upstream.behaviour["/v1/chat/completions"] = lambda r: {"status": 500, "json": {}}
    backup = factories.make_provider(world.tenant, kind="openai", base_url=second_upstream.url + "/v1")
    alias_over(world, world.provider, backup)
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("smart"))
    assert response.status_code == 502
    assert response.json()["error"] | {"message": None, "request_id": None} == {
        "code": "upstream_error", "reason": "upstream_error", "type": "api_error", "message": None, "request_id": None,
    }  # fmt: skip
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_code) == (502, "upstream_error")


def test_it_answers_504_when_the_upstream_is_too_slow(world):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {"delay": 3, "json": {}}
    started = time.monotonic()
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat())
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 2.9  # the provider's 2 s timeout, not the upstream's delay


def test_it_does_not_fall_back_on_an_upstream_400(world, second_upstream):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {"status": 400, "json": {"error": {"message": "bad"}}}
    backup = factories.make_provider(world.tenant, kind="openai", base_url=second_upstream.url + "/v1")
    alias_over(world, world.provider, backup)
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("smart"))
    assert response.status_code == 400
    assert second_upstream.requests == []


def test_it_falls_back_for_a_stream_before_any_byte_reaches_the_client(world, second_upstream):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {"status": 500, "json": {}}
    backup = factories.make_provider(world.tenant, kind="openai", base_url=second_upstream.url + "/v1")
    alias_over(world, world.provider, backup)
    stream = world.sdk().chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from upstream"


def test_it_cancels_the_upstream_call_when_the_client_leaves_mid_stream(world):
    words = [f" w{i}" for i in range(200)]
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "stream": chat_stream("gpt-4o", words), "chunk_delay": 0.05,
    }  # fmt: skip
    with (
        httpx.Client(base_url=world.gateway.url, timeout=10) as client,
        client.stream(
            "POST", "/v1/chat/completions", json=chat(stream=True), headers={"X-API-Key": world.secret}
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        next(line for line in lines if line.startswith("data:"))
    assert world.upstream.stream_disconnected.wait(5), "the upstream never saw the connection close"
    deadline = time.monotonic() + 5
    while not RequestLog.objects.filter(id=request_id).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = RequestLog.objects.get(id=request_id)
    assert (record.status_code, record.error_reason) == (200, "client_disconnected")


def test_it_streams_without_waiting_for_the_whole_answer(world):
    words = [f" w{i}" for i in range(10)]
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "stream": chat_stream("gpt-4o", words), "chunk_delay": 0.2,
    }  # fmt: skip
    started = time.monotonic()
    with (
        httpx.Client(base_url=world.gateway.url, timeout=10) as client,
        client.stream("POST", "/v1/chat/completions", json=chat(stream=True), headers={"X-API-Key": world.secret}) as r,
    ):
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        first_at = time.monotonic() - started
        rest = [line for line in lines if line.startswith("data:")]
    assert first_at < 1.0  # the whole answer takes over 2 s upstream
    assert first.startswith("data: {")
    assert rest[-1] == "data: [DONE]"


def test_it_refuses_a_body_over_the_limit_with_413(world, settings):
    world.gateway.app.proxy.runtime.max_request_bytes = 1000
    big = chat(messages=[{"role": "user", "content": "x" * 2000}])
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert world.upstream.requests == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"model": 5, "messages": []}', b'{"model": "gpt-4o", "messages": "hi"}',
     b'{"model": "gpt-4o", "messages": [{"role": "user"}], "stream": "yes"}', b"",
     b'{"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}'],
)  # fmt: skip
def test_it_answers_400_never_500_for_malformed_chat_bodies(world, body):
    response = world.http(**{"X-API-Key": world.secret, "Content-Type": "application/json"}).post(
        "/v1/chat/completions", content=body
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_it_sets_request_and_agent_ids_on_responses_and_keeps_the_clients_request_id(world):
    response = world.http(**{"X-API-Key": world.secret, "X-Request-ID": "client-42"}).post(
        "/v1/chat/completions", json=chat()
    )
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["x-agent-id"] == world.agent.id
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert record.client_request_id == "client-42"


def test_it_ignores_an_invalid_client_request_id(world):
    response = world.http(**{"X-API-Key": world.secret, "X-Request-ID": "bad id with spaces"}).get("/v1/models")
    assert response.status_code == 200
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).client_request_id is None


def test_it_sets_the_request_id_on_errors_before_the_agent_is_known(world):
    response = world.http().get("/v1/models")
    assert response.headers["x-request-id"] == response.json()["error"]["request_id"]
    assert "x-agent-id" not in response.headers


def test_it_routes_by_explicit_pattern_before_family_and_by_priority(world, second_upstream):
    factories.make_provider(
        world.tenant, kind="openai_compatible", base_url=second_upstream.url + "/v1", models=["gpt-4o*"], priority=5
    )
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("gpt-4o-mini"))
    assert response.status_code == 200
    assert len(second_upstream.requests) == 1
    assert world.upstream.requests == []


def test_it_speaks_the_azure_deployment_url_shape(world):
    factories.make_provider(
        world.tenant, kind="azure_openai", base_url=world.upstream.url, api_key="azure-secret",
        models=["my-deployment"], api_version="2024-06-01",
    )  # fmt: skip
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("my-deployment"))
    assert response.status_code == 200
    sent = world.upstream.last()
    assert sent.path == "/openai/deployments/my-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-06-01"}
    assert sent.headers["api-key"] == "azure-secret"
    assert "Authorization" not in sent.headers


def test_it_answers_the_mock_provider_locally(world):
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    answer = world.sdk().chat.completions.create(model="mock-1", messages=[{"role": "user", "content": "ping"}])
    assert answer.choices[0].message.content == "Mock answer to: ping"
    assert world.upstream.requests == []


def test_it_refuses_the_wrong_method_with_the_error_envelope(world):
    response = world.http(**{"X-API-Key": world.secret}).get("/v1/chat/completions")
    assert response.status_code == 405
    assert response.json()["error"]["reason"] == "method_not_allowed"


def test_it_never_carries_a_cookie_one_upstream_answer_set_into_the_next_request(world):
    """The upstream pool is shared by every tenant: a provider's cookie must not be replayed."""
    provider = factories.make_provider(
        world.tenant, kind="openai", base_url=f"http://localhost:{world.upstream.port}/v1"
    )
    alias_over(world, provider, name="by-name")
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "json": chat_completion("gpt-4o-mini"),
        "headers": {"Set-Cookie": "session=first-callers-session; Path=/"},
    }
    client = world.http(**{"X-API-Key": world.secret})
    for _ in range(2):
        assert client.post("/v1/chat/completions", json=chat("by-name")).status_code == 200
    assert [r.headers.get("Cookie") for r in world.upstream.requests] == [None, None]
