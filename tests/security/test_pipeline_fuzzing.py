"""Fuzzing through the real pipeline: whatever a client sends (bodies, headers, model names)
and whatever an upstream streams back (cut, truncated, garbled), the gateway answers with
the SPEC's envelope or a well-formed stream, never a 5xx of its own making, and leaves one
record per request."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.models import RequestLog
from tests.providers.conftest import provider_for
from tests.security.test_hostile_input import chat_like, json_values
from tests.support.servers import chat_stream, sse_event

FUZZ = settings(
    max_examples=60, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
header_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20).filter(
    lambda n: n not in ("content-length", "transfer-encoding", "host", "connection", "x-api-key", "authorization")
)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120).map(str.strip)
model_names = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), min_size=1, max_size=300)


def _chat_for(model: str, stream: bool) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}).encode()


bodies = (
    chat_like.map(lambda b: json.dumps(b).encode())
    | st.builds(_chat_for, model_names, st.booleans())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=400)
)


def records_of(tenant_id: str, expected: int) -> int:
    deadline = time.monotonic() + 10
    while (count := RequestLog.objects.filter(tenant_id=tenant_id).count()) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def assert_well_formed(response: httpx.Response, body: bytes) -> None:
    assert response.status_code < 500 or response.status_code in (502, 503, 504), (response.status_code, body[:300])
    assert response.headers.get("x-request-id")
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] != "internal_error"
        assert {"code", "message", "type"} <= set(error)
    elif response.headers.get("content-type", "").startswith("text/event-stream"):
        assert "internal_error" not in response.text


def test_it_answers_any_body_headers_and_model_name_with_the_envelope_and_one_record(world):
    sent = []

    @FUZZ
    @given(body=bodies, endpoint=st.sampled_from(["chat/completions", "embeddings"]),
           headers=st.dictionaries(header_names, header_values, max_size=6))  # fmt: skip
    def one_request(body: bytes, endpoint: str, headers: dict[str, str]) -> None:
        with world.http(**{"X-API-Key": world.secret}) as client:
            response = client.post(
                f"/v1/{endpoint}", content=body, headers={**headers, "content-type": "application/json"}
            )
        sent.append(response.headers.get("x-request-id"))
        assert_well_formed(response, body)

    one_request()
    assert records_of(world.tenant.id, len(sent)) == len(sent)


def garble(data: bytes, cuts: list[int], noise: list[tuple[int, bytes]], truncate: int | None) -> list[bytes]:
    """The stream with bytes inserted, maybe cut short, and split into reads at ``cuts``."""
    out = bytearray(data)
    for at, junk in noise:
        out[at % (len(out) + 1) : at % (len(out) + 1)] = junk
    if truncate is not None:
        del out[truncate % (len(out) + 1) :]
    points = sorted({c % (len(out) + 1) for c in cuts} | {0, len(out)})
    return [bytes(out[a:b]) for a, b in itertools.pairwise(points) if b > a]


def openai_stream() -> bytes:
    return b"".join(sse_event(None, e) for e in chat_stream("gpt-4o-mini", ["Hello", " there", " friend"]))


def anthropic_stream() -> bytes:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
               "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}  # fmt: skip
    events = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    return b"".join(sse_event(event["type"], event) for event in events)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_it_survives_any_cut_truncated_or_garbled_provider_stream(world, kind):
    if kind == "anthropic":
        provider_for(world, "anthropic", models=["claude-*"])
    model, path, valid = (
        ("gpt-4o-mini", "/v1/chat/completions", openai_stream())
        if kind == "openai"
        else ("claude-x", "/v1/messages", anthropic_stream())
    )
    sent = []

    @FUZZ
    @given(
        cuts=st.lists(st.integers(0, 5000), max_size=8),
        noise=st.lists(st.tuples(st.integers(0, 5000), st.binary(min_size=1, max_size=40)), max_size=3),
        truncate=st.none() | st.integers(0, 5000),
    )
    def one_stream(cuts, noise, truncate) -> None:
        world.upstream.behaviour[path] = lambda seen: {"raw": garble(valid, cuts, noise, truncate)}
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with (
            world.http(**{"X-API-Key": world.secret}) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            response.read()
        sent.append(response.headers.get("x-request-id"))
        assert_well_formed(response, b"")
        if response.status_code == 200:
            # A stream always ends: with [DONE] or with an error event, never cut by the gateway.
            assert response.text.rstrip().endswith("data: [DONE]") or '"error"' in response.text

    one_stream()
    assert records_of(world.tenant.id, len(sent)) == len(sent)
