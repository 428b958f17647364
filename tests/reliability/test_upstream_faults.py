"""Upstream faults through a live gateway process: every fault ends in a clean SPEC error or
a clean stream end, fallbacks take over before any byte reaches the client, every request
has exactly one record, and no worker is left stuck."""

from __future__ import annotations

import concurrent.futures
import json
import math
import time
from dataclasses import dataclass

import httpx
import pytest

from forensics.models import RequestLog
from tests import factories
from tests.reliability.support import RawConnection, sse
from tests.support.servers import chat_completion, chat_stream, free_port

TIMEOUT = 0.5  # the providers' timeout_seconds in these tests


def _stream_head(conn: RawConnection, chunked: bool = True) -> None:
    headers = {"Content-Type": "text/event-stream"}
    headers.update({"Transfer-Encoding": "chunked"} if chunked else {"Connection": "close"})
    conn.head(200, headers)


def _events(words: list[str]) -> list[bytes]:
    return [sse(c) for c in chat_stream("gpt-4o-mini", words)]


def reset_before_answer(conn: RawConnection) -> None:
    conn.reset()


def stall_before_answer(conn: RawConnection) -> None:
    conn.stall()


def stall_after_first_byte(conn: RawConnection) -> None:
    conn.head(200, {"Content-Type": "application/json", "Content-Length": "400"})
    conn.send(b'{"id": "chatcmpl-1", ')
    conn.stall()


def non_json_body(conn: RawConnection) -> None:
    body = b"<html><body>502 Bad Gateway (but with a 200)</body></html>"
    conn.head(200, {"Content-Type": "text/html", "Content-Length": str(len(body)), "Connection": "close"})
    conn.send(body)


def truncated_body(conn: RawConnection) -> None:
    body = json.dumps(chat_completion("gpt-4o-mini")).encode()
    conn.head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
    conn.send(body[: len(body) // 2])
    conn.sock.close()


def json_list_body(conn: RawConnection) -> None:
    conn.json([1, 2, 3])


def always_503(conn: RawConnection) -> None:
    conn.json({"error": {"message": "overloaded"}}, status=503)


def reset_mid_stream(conn: RawConnection) -> None:
    _stream_head(conn)
    for event in _events(["Hello", " there"])[:3]:
        conn.chunk(event)
    time.sleep(0.05)
    conn.reset()


def stall_mid_stream(conn: RawConnection) -> None:
    _stream_head(conn)
    conn.chunk(_events(["Hello"])[0])
    conn.stall()


def stall_before_first_event(conn: RawConnection) -> None:
    _stream_head(conn)
    conn.stall()


def truncated_chunked_stream(conn: RawConnection) -> None:
    _stream_head(conn)
    for event in _events(["Hello", " there"])[:2]:
        conn.chunk(event)
    conn.send(b'40\r\ndata: {"partial')  # a chunk announced longer than what follows
    conn.sock.close()


def stream_closed_without_end(conn: RawConnection) -> None:
    _stream_head(conn, chunked=False)
    for event in _events(["Hello", " there"])[:3]:
        conn.send(event)
    conn.sock.close()


def malformed_stream(conn: RawConnection) -> None:
    _stream_head(conn)
    good = _events(["Hel", "lo"])
    for piece in (
        good[0],
        b": keep-alive\n\n",
        b"data: {not json}\n\n",
        b"data: [1, 2, 3]\n\n",
        b"this line has no field\n\n",
        good[1].replace(b"\n", b"\r\n"),
        good[2][:7],
        good[2][7:],
        b"data:\n\n",
        *good[3:-1],
        b"data: [DO",
        b"NE]\n\n",
        b'data: {"after": "done"}\n\n',
    ):
        conn.chunk(piece)
    conn.send(b"0\r\n\r\n")


# SPEC 3.6's bound on a non-streamed answer (the SPEC's number, not the code's constant).
MAX_BODY = 64 << 20


def _padded_answer(size: int) -> bytes:
    """A valid chat completion of exactly ``size`` bytes: JSON may end in any amount of whitespace."""
    body = json.dumps(chat_completion("gpt-4o-mini")).encode()
    return body + b" " * (size - len(body))


def _chunked(conn: RawConnection, body: bytes) -> None:
    conn.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    for start in range(0, len(body), 1 << 20):
        conn.chunk(body[start : start + (1 << 20)])
    conn.send(b"0\r\n\r\n")


def body_over_the_cap(conn: RawConnection) -> None:
    body = _padded_answer(MAX_BODY + 1)
    conn.head(200, {"Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close"})
    conn.send(body)


def chunked_body_over_the_cap(conn: RawConnection) -> None:
    _chunked(conn, _padded_answer(MAX_BODY + 1))  # no length announced: the gateway must count


def chunked_body_at_the_cap(conn: RawConnection) -> None:
    _chunked(conn, _padded_answer(MAX_BODY))


SCENARIOS = {f.__name__: f for f in (
    reset_before_answer, stall_before_answer, stall_after_first_byte, non_json_body, truncated_body, json_list_body,
    always_503, reset_mid_stream, stall_mid_stream, stall_before_first_event, truncated_chunked_stream,
    stream_closed_without_end, malformed_stream, body_over_the_cap, chunked_body_over_the_cap, chunked_body_at_the_cap,
)}  # fmt: skip


@pytest.fixture
def raw(raw_upstream):
    raw_upstream.scenarios.update(SCENARIOS)
    return raw_upstream


@dataclass
class Tenant:
    tenant: object
    secret: str
    gateway_url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway_url, headers={"X-API-Key": self.secret}, timeout=30)


@pytest.fixture
def tenant(transactional_db, gateway_process) -> Tenant:
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    _, secret = factories.make_key(factories.make_agent(tenant))
    return Tenant(tenant, secret, gateway_process.url)


def provider_for(tenant: Tenant, base_url: str, model: str = "gpt-4o-mini", timeout: float = TIMEOUT):
    return factories.make_provider(
        tenant.tenant, kind="openai_compatible", base_url=base_url, models=[model], timeout_seconds=timeout,
        api_key="sk-fault-test",
    )  # fmt: skip


def alias_over(tenant: Tenant, *providers, name: str = "smart") -> str:
    factories.make_alias(tenant.tenant, [{"provider_id": p.id, "model": "gpt-4o-mini"} for p in providers], alias=name)
    return name


def ask(tenant: Tenant, model: str = "gpt-4o-mini", **body) -> httpx.Response:
    with tenant.client() as client:
        return client.post(
            "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "Hi"}], **body}
        )


def ask_stream(tenant: Tenant, model: str = "gpt-4o-mini") -> tuple[httpx.Response, list[str]]:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with tenant.client() as client, client.stream("POST", "/v1/chat/completions", json=body) as response:
        return response, [line for line in response.iter_lines() if line.startswith("data:")]


def assert_spec_error(response: httpx.Response, status: int, code: str, reason: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == (code, reason or code), error
    assert error["type"] == "api_error"
    assert error["request_id"] == response.headers["x-request-id"]


def assert_one_record_each(tenant: Tenant, request_ids: list[str]) -> list[RequestLog]:
    records = list(RequestLog.objects.filter(tenant_id=tenant.tenant.id))
    assert sorted(r.id for r in records) == sorted(request_ids)
    return records


def assert_not_stuck(tenant: Tenant) -> str:
    """A healthy request right after the faults answers at once: no worker is wedged."""
    started = time.monotonic()
    response = ask(tenant, "mock-1")
    assert response.status_code == 200
    assert time.monotonic() - started < 1.0
    return response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("scenario", "status", "code"),
    [
        ("refused", 502, "upstream_error"),
        ("reset_before_answer", 502, "upstream_error"),
        ("stall_before_answer", 504, "upstream_timeout"),
        ("stall_after_first_byte", 504, "upstream_timeout"),
        ("non_json_body", 502, "upstream_error"),
        ("truncated_body", 502, "upstream_error"),
        ("json_list_body", 502, "upstream_error"),
        ("always_503", 502, "upstream_error"),
        ("stall_before_first_event", 504, "upstream_timeout"),
    ],
)
def test_it_answers_a_clean_spec_error_or_falls_back_when_a_target_fails_before_its_first_byte(
    raw, healthy_upstream, tenant, scenario, status, code
):
    base_url = f"http://127.0.0.1:{free_port()}/v1" if scenario == "refused" else raw.base_url(scenario)
    stream = scenario == "stall_before_first_event"
    broken = provider_for(tenant, base_url)
    backup = provider_for(tenant, healthy_upstream.url + "/v1", model="backup-only")
    alias = alias_over(tenant, broken, backup)

    # The broken target alone: a clean SPEC error, within the provider's timeout.
    started = time.monotonic()
    alone = ask(tenant, stream=stream)
    assert_spec_error(alone, status, code)
    assert time.monotonic() - started < TIMEOUT + 1.5
    record = RequestLog.objects.get(id=alone.headers["x-request-id"])
    assert (record.status_code, record.error_code) == (status, code)

    # With a fallback: the next target answers, and the client never sees the failure.
    if stream:
        fallen_back, lines = ask_stream(tenant, alias)
        assert lines[-1] == "data: [DONE]"
        assert all("error" not in json.loads(line[6:]) for line in lines[:-1])
    else:
        fallen_back = ask(tenant, alias)
        assert fallen_back.json()["choices"][0]["message"]["content"] == "Hello from upstream"
    assert fallen_back.status_code == 200
    record = RequestLog.objects.get(id=fallen_back.headers["x-request-id"])
    assert (record.status_code, record.error_code, record.provider_id) == (200, None, backup.id)

    request_ids = [alone.headers["x-request-id"], fallen_back.headers["x-request-id"], assert_not_stuck(tenant)]
    assert_one_record_each(tenant, request_ids)


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("reset_mid_stream", "upstream_stream_interrupted"),
        ("stall_mid_stream", "upstream_stream_interrupted"),
        ("truncated_chunked_stream", "upstream_stream_interrupted"),
        ("stream_closed_without_end", "upstream_stream_incomplete"),
    ],
)
def test_it_ends_a_stream_that_breaks_midway_cleanly_with_an_error_event_and_a_record(raw, tenant, scenario, reason):
    provider_for(tenant, raw.base_url(scenario))

    started = time.monotonic()
    response, lines = ask_stream(tenant)

    assert response.status_code == 200
    assert time.monotonic() - started < TIMEOUT + 1.5
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    assert lines[-1] == "data: [DONE]"
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"  # what arrived was relayed
    error = payloads[-1]["error"]
    assert (error["code"], error["reason"], error["type"]) == ("upstream_error", reason, "api_error")
    assert error["request_id"] == response.headers["x-request-id"]
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_code, record.error_reason, record.stream) == (
        200, "upstream_error", reason, True,
    )  # fmt: skip
    # What was streamed before the failure counts: the prompt ("Hi") and the text relayed.
    text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads[:-1] if p.get("choices"))
    assert (record.prompt_tokens, record.completion_tokens) == (1, math.ceil(len(text) / 4))
    assert_one_record_each(tenant, [response.headers["x-request-id"], assert_not_stuck(tenant)])


@pytest.mark.parametrize("scenario", ["body_over_the_cap", "chunked_body_over_the_cap"])
def test_it_ends_the_request_with_502_on_a_non_streamed_answer_over_64_mib(raw, healthy_upstream, tenant, scenario):
    broken = provider_for(tenant, raw.base_url(scenario), timeout=30)
    backup = provider_for(tenant, healthy_upstream.url + "/v1", model="backup-only", timeout=30)
    alias = alias_over(tenant, broken, backup)
    backup_requests = len(healthy_upstream.requests)

    response = ask(tenant, alias)

    assert_spec_error(response, 502, "upstream_error", "upstream_response_too_large")
    assert len(healthy_upstream.requests) == backup_requests  # the provider did answer: no fallback
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_code, record.error_reason) == (
        502, "upstream_error", "upstream_response_too_large",
    )  # fmt: skip
    assert_one_record_each(tenant, [response.headers["x-request-id"], assert_not_stuck(tenant)])


def test_it_accepts_a_non_streamed_answer_of_exactly_64_mib(raw, tenant):
    provider_for(tenant, raw.base_url("chunked_body_at_the_cap"), timeout=30)

    response = ask(tenant)

    assert response.status_code == 200, response.text[:500]
    assert response.json()["choices"][0]["message"]["content"] == "Hello from upstream"


def test_it_relays_only_readable_events_of_a_malformed_stream_and_one_done(raw, tenant):
    provider_for(tenant, raw.base_url("malformed_stream"))

    response, lines = ask_stream(tenant)

    assert response.status_code == 200
    assert lines[-1] == "data: [DONE]"
    assert lines.count("data: [DONE]") == 1
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(isinstance(c, dict) and "choices" in c for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Hello"
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_reason, record.prompt_tokens, record.completion_tokens) == (
        200, None, 5, 3,
    )  # fmt: skip


def test_it_survives_a_5xx_storm_with_fallbacks_and_one_record_per_request(raw, healthy_upstream, tenant):
    # A generous timeout: under a storm on a small machine, slowness is not what is tested here.
    broken = provider_for(tenant, raw.base_url("always_503"), model="broken-only", timeout=5)
    backup = provider_for(tenant, healthy_upstream.url + "/v1", model="backup-only", timeout=5)
    model = alias_over(tenant, broken, backup)
    direct = "gpt-4o-mini"
    provider_for(tenant, raw.base_url("always_503"), model=direct, timeout=5)

    def one(index: int) -> httpx.Response:
        if index % 3 == 2:
            return ask(tenant, direct)
        if index % 3 == 1:
            return ask_stream(tenant, model)[0]
        return ask(tenant, model)

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(one, range(120)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 502}, statuses
    assert statuses.count(200) == 80  # every request to the alias fell back
    assert statuses.count(502) == 40  # the provider without a fallback: a clean 502 each
    assert raw.hits("always_503") >= 120
    assert_one_record_each(tenant, [r.headers["x-request-id"] for r in responses] + [assert_not_stuck(tenant)])
