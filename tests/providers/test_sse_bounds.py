"""SPEC 3.6's bound on streamed answers, for every provider kind: one upstream event over 1 MiB
closes the stream with an error event and a record that names it, an event that never ends
is not buffered past the bound, and splitting events stays linear however the bytes are cut."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from forensics.models import RequestLog
from proxy.adapters.sse import SSEBuffer
from tests import factories
from tests.support.live_fixtures import streamed_text
from tests.support.servers import sse_event

# The SPEC's numbers, not the code's constants: a test must fail if the code drifts from them.
MAX_EVENT = 1 << 20
MODEL = "bounded-model"
TextEvent = Callable[[str], bytes]


def openai_like(text: str) -> bytes:
    chunk = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1700000000, "model": MODEL}
    return sse_event(None, {**chunk, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def openai_like_stream(big: bytes) -> list[bytes]:
    chunk = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1700000000, "model": MODEL}
    return [
        sse_event(None, {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        openai_like("Hi"),
        big,
        sse_event(None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        sse_event(None, {**chunk, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}),
        b"data: [DONE]\n\n",
    ]


def anthropic(text: str) -> bytes:
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    return sse_event("content_block_delta", delta)


def anthropic_stream(big: bytes) -> list[bytes]:
    message = {
        "id": "msg_b", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1},
    }  # fmt: skip
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}
    return [
        sse_event("message_start", {"type": "message_start", "message": message}),
        sse_event("content_block_start", block),
        anthropic("Hi"),
        big,
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse_event("message_delta", end),
        sse_event("message_stop", {"type": "message_stop"}),
    ]


def gemini(text: str) -> bytes:
    return sse_event(None, {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}]})


def gemini_stream(big: bytes) -> list[bytes]:
    last = {
        "candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3},
    }
    return [gemini("Hi"), big, sse_event(None, last)]


def cohere(text: str) -> bytes:
    delta = {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": text}}}}
    return sse_event("content-delta", delta)


def cohere_stream(big: bytes) -> list[bytes]:
    start = {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}
    end = {
        "type": "message-end",
        "delta": {"finish_reason": "COMPLETE", "usage": {"tokens": {"input_tokens": 5, "output_tokens": 3}}},
    }
    return [
        sse_event("message-start", {"type": "message-start", "id": "c1", "delta": {"message": {"role": "assistant"}}}),
        sse_event("content-start", start),
        cohere("Hi"),
        big,
        sse_event("content-end", {"type": "content-end", "index": 0}),
        sse_event("message-end", end),
    ]


# kind → (upstream path, base URL suffix, one text event, the whole stream around a given event)
KINDS: dict[str, tuple[str, str, TextEvent, Callable[[bytes], list[bytes]]]] = {
    "openai": ("/v1/chat/completions", "/v1", openai_like, openai_like_stream),
    "openai_compatible": ("/v1/chat/completions", "/v1", openai_like, openai_like_stream),
    "mistral": ("/v1/chat/completions", "/v1", openai_like, openai_like_stream),
    "azure_openai": (f"/openai/deployments/{MODEL}/chat/completions", "", openai_like, openai_like_stream),
    "anthropic": ("/v1/messages", "", anthropic, anthropic_stream),
    "gemini": (f"/v1beta/models/{MODEL}:streamGenerateContent", "", gemini, gemini_stream),
    "cohere": ("/v2/chat", "", cohere, cohere_stream),
}


def sized(event: TextEvent, size: int) -> tuple[bytes, str]:
    """A text event of exactly ``size`` bytes (the text is ASCII, one byte a character)."""
    text = "x" * (size - len(event("")))
    raw = event(text)
    assert len(raw) == size
    return raw, text


def bounded_provider(world, kind: str, stream: list[bytes], **spec) -> None:
    path, suffix, _, _ = KINDS[kind]
    factories.make_provider(
        world.tenant, kind=kind, base_url=world.upstream.url + suffix, api_key="sk-bounds", models=[MODEL],
        timeout_seconds=10,
    )  # fmt: skip
    world.upstream.behaviour[path] = lambda seen: {"raw": stream, **spec}


def read_stream(world) -> tuple[httpx.Response, list[str]]:
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with (
        httpx.Client(base_url=world.gateway.url, timeout=30) as client,
        client.stream("POST", "/v1/chat/completions", json=body, headers={"X-API-Key": world.secret}) as response,
    ):
        return response, [line for line in response.iter_lines() if line.startswith("data:")]


@pytest.mark.parametrize("kind", KINDS)
def test_it_closes_a_stream_with_an_error_event_at_an_upstream_event_over_1_mib(world, kind):
    big, _ = sized(KINDS[kind][2], MAX_EVENT + 1)
    bounded_provider(world, kind, KINDS[kind][3](big))

    response, lines = read_stream(world)

    assert response.status_code == 200
    assert max(len(line) for line in lines) < 64 * 1024  # nothing of the big event reached the client
    assert lines[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    assert streamed_text(payloads[:-1]) == "Hi"  # what came before it was relayed
    error = payloads[-1]["error"]
    assert (error["code"], error["reason"]) == ("upstream_error", "upstream_event_too_large")
    assert error["type"] == "api_error"
    assert error["request_id"] == response.headers["x-request-id"]
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_code, record.error_reason, record.stream) == (
        200, "upstream_error", "upstream_event_too_large", True,
    )  # fmt: skip
    assert (record.prompt_tokens > 0, record.completion_tokens > 0) == (True, True)  # what was streamed counts


@pytest.mark.parametrize("kind", KINDS)
def test_it_relays_an_upstream_event_of_exactly_1_mib(world, kind):
    big, text = sized(KINDS[kind][2], MAX_EVENT)
    bounded_provider(world, kind, KINDS[kind][3](big))

    response, lines = read_stream(world)

    assert lines[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    assert all("error" not in p for p in payloads)
    assert streamed_text(payloads) == "Hi" + text
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_code, record.error_reason) == (200, None, None)


def test_it_stops_buffering_an_event_that_never_ends_once_it_passes_1_mib(world):
    # 2 MiB of one unfinished event, then the upstream holds the connection open: the gateway
    # must not wait for the rest (nor hold it), it ends the stream as soon as the bound is passed.
    piece = b"x" * (64 * 1024)
    endless = [*openai_like_stream(b"")[:2], b"data: {", *([piece] * 32)]
    bounded_provider(world, "openai", endless, end_delay=8)

    started = time.monotonic()
    response, lines = read_stream(world)

    assert time.monotonic() - started < 5
    assert json.loads(lines[-2][6:])["error"]["reason"] == "upstream_event_too_large"
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.error_code, record.error_reason) == ("upstream_error", "upstream_event_too_large")


def test_it_splits_an_event_cut_into_many_small_reads_in_linear_time():
    # Every read used to copy and rescan the whole pending event, so a 1 MiB event in
    # 32-byte reads took tens of seconds of a worker's event loop; linear, it takes milliseconds.
    event = b'data: {"x": "' + b"a" * (MAX_EVENT - 20) + b'"}\n\n'
    buffer = SSEBuffer()

    started = time.perf_counter()
    events = [e for i in range(0, len(event), 32) for e in buffer.feed(event[i : i + 32])]
    elapsed = time.perf_counter() - started

    assert [payload for _, payload in events] == [event[6:-2]]
    assert elapsed < 2.0, f"{elapsed:.2f} s for one event in {len(event) // 32} reads"
