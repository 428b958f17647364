"""A fast OpenAI-shaped upstream for the benchmark: raw asyncio protocol, httptools, uvloop.

It answers from prebuilt bytes so that it costs a small fraction of what the gateway costs:
``POST …/chat/completions`` (JSON, or an SSE stream when the body asks for one),
``POST …/embeddings`` and ``GET …/models``. Paths under ``/slow`` stream one event every
``--slow-interval`` seconds for ``--slow-events`` events, to hold many streams open at once.

For the dialect rows it also speaks the two native formats the gateway passes through:
``POST …/v1/messages`` as Anthropic does (an ``anthropic`` provider whose base URL is the
mock) and ``POST …/responses`` as OpenAI's Responses API does (an ``openai`` provider). Each
answers the same text and usage as the chat answer, so that the rows differ by the gateway's
work on the format, not by what the model said; the streams carry the events the real
services send for a short text answer, in their order.

Run: ``python -m bench.mock_upstream --port 18081``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time

import httptools
import orjson
import uvloop

MODEL = "gpt-4o-mini"
CHAT_ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Benchmarks measure; they do not guess."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 24, "completion_tokens": 9, "total_tokens": 33},
    }
)
EMBEDDING_ANSWER = orjson.dumps(
    {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [round(i / 64, 4) for i in range(64)]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
)
MODELS_ANSWER = orjson.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})
NOT_FOUND = orjson.dumps({"error": {"message": "no such path", "type": "invalid_request_error"}})


def sse_event(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_chunk(content: str | None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    return sse_event(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


USAGE_EVENT = sse_event(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 24, "completion_tokens": 5, "total_tokens": 29},
    }
)
DONE_EVENT = b"data: [DONE]\n\n"
FAST_STREAM_EVENTS = [
    stream_chunk("Bench"),
    stream_chunk("marks "),
    stream_chunk("measure"),
    stream_chunk("."),
    stream_chunk(None, "stop"),
    USAGE_EVENT,
    DONE_EVENT,
]
SLOW_EVENT = stream_chunk("tick ")
STREAM_TEXTS = ("Bench", "marks ", "measure", ".")
ANSWER_TEXT = "Benchmarks measure; they do not guess."
ANTHROPIC_MODEL = "claude-bench"


def named_event(name: str, payload: dict) -> bytes:
    """An SSE event with an ``event:`` line, as Anthropic and the Responses API send them."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


MESSAGE_ANSWER = orjson.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [{"type": "text", "text": ANSWER_TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 24, "output_tokens": 9},
    }
)
MESSAGE_STREAM_EVENTS = [
    named_event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": ANTHROPIC_MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 24, "output_tokens": 1},
            },
        },
    ),
    named_event(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    *(
        named_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        )
        for text in STREAM_TEXTS
    ),
    named_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
    named_event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
    ),
    named_event("message_stop", {"type": "message_stop"}),
]


def response_object(status: str, output: list, usage: dict | None) -> dict:
    """A Response object of the Responses API (``store`` false, as the gateway sends it)."""
    return {
        "id": "resp_bench", "object": "response", "created_at": 1_700_000_000, "status": status, "model": MODEL,
        "output": output, "store": False, "usage": usage,
    }  # fmt: skip


OUTPUT_MESSAGE = {
    "type": "message", "id": "msg_bench", "status": "completed", "role": "assistant",
    "content": [{"type": "output_text", "text": ANSWER_TEXT, "annotations": []}],
}  # fmt: skip
RESPONSE_ANSWER = orjson.dumps(
    response_object("completed", [OUTPUT_MESSAGE], {"input_tokens": 24, "output_tokens": 9, "total_tokens": 33})
)
_STREAMED_TEXT = "".join(STREAM_TEXTS)
_STREAMED_PART = {"type": "output_text", "text": _STREAMED_TEXT, "annotations": []}
_STREAMED_MESSAGE = {**OUTPUT_MESSAGE, "content": [_STREAMED_PART]}
_RESPONSE_EVENTS: list[dict] = [
    {"type": "response.created", "response": response_object("in_progress", [], None)},
    {"type": "response.output_item.added", "output_index": 0,
     "item": {**OUTPUT_MESSAGE, "status": "in_progress", "content": []}},
    {"type": "response.content_part.added", "item_id": "msg_bench", "output_index": 0, "content_index": 0,
     "part": {"type": "output_text", "text": "", "annotations": []}},
    *({"type": "response.output_text.delta", "item_id": "msg_bench", "output_index": 0, "content_index": 0,
       "delta": text} for text in STREAM_TEXTS),
    {"type": "response.output_text.done", "item_id": "msg_bench", "output_index": 0, "content_index": 0,
     "text": _STREAMED_TEXT},
    {"type": "response.content_part.done", "item_id": "msg_bench", "output_index": 0, "content_index": 0,
     "part": _STREAMED_PART},
    {"type": "response.output_item.done", "output_index": 0, "item": _STREAMED_MESSAGE},
    {"type": "response.completed",
     "response": response_object("completed", [_STREAMED_MESSAGE],
                                 {"input_tokens": 24, "output_tokens": 5, "total_tokens": 29})},
]  # fmt: skip
RESPONSE_STREAM_EVENTS = [
    named_event(event["type"], {**event, "sequence_number": number}) for number, event in enumerate(_RESPONSE_EVENTS)
]


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def json_response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
FAST_STREAM_RESPONSE = STREAM_HEAD + b"".join(http_chunk(e) for e in FAST_STREAM_EVENTS) + b"0\r\n\r\n"
CHAT_RESPONSE = json_response(b"200 OK", CHAT_ANSWER)
MESSAGE_RESPONSE = json_response(b"200 OK", MESSAGE_ANSWER)
MESSAGE_STREAM_RESPONSE = STREAM_HEAD + b"".join(http_chunk(e) for e in MESSAGE_STREAM_EVENTS) + b"0\r\n\r\n"
RESPONSE_RESPONSE = json_response(b"200 OK", RESPONSE_ANSWER)
RESPONSE_STREAM_RESPONSE = STREAM_HEAD + b"".join(http_chunk(e) for e in RESPONSE_STREAM_EVENTS) + b"0\r\n\r\n"
EMBEDDING_RESPONSE = json_response(b"200 OK", EMBEDDING_ANSWER)
MODELS_RESPONSE = json_response(b"200 OK", MODELS_ANSWER)
NOT_FOUND_RESPONSE = json_response(b"404 Not Found", NOT_FOUND)


def wants_stream(body: bytes) -> bool:
    """Whether a request body asks for a stream (parsed only when it names the field)."""
    return b'"stream"' in body and orjson.loads(body).get("stream") is True


class UpstreamProtocol(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; requests are answered in arrival order."""

    slow_interval = 0.5
    slow_events = 40

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.busy: asyncio.Task | None = None
        self.queue: list[tuple[bytes, bytes, bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy is not None:
            self.busy.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        request = (self.parser.get_method(), self.url, b"".join(self.body))
        self.url, self.body = b"", []
        if self.busy is not None and not self.busy.done():
            self.queue.append(request)
            return
        self.answer(*request)

    def answer(self, method: bytes, url: bytes, body: bytes) -> None:
        path = url.split(b"?", 1)[0]
        if path.startswith(b"/slow/"):
            self.busy = asyncio.get_running_loop().create_task(self.slow_stream())
            return
        self.transport.write(self.response_for(method, path, body))

    def response_for(self, method: bytes, path: bytes, body: bytes) -> bytes:
        if method == b"POST" and path.endswith(b"/chat/completions"):
            return FAST_STREAM_RESPONSE if wants_stream(body) else CHAT_RESPONSE
        if method == b"POST" and path.endswith(b"/v1/messages"):
            return MESSAGE_STREAM_RESPONSE if wants_stream(body) else MESSAGE_RESPONSE
        if method == b"POST" and path.endswith(b"/responses"):
            return RESPONSE_STREAM_RESPONSE if wants_stream(body) else RESPONSE_RESPONSE
        if method == b"POST" and path.endswith(b"/embeddings"):
            return EMBEDDING_RESPONSE
        if method == b"GET" and path.endswith(b"/models"):
            return MODELS_RESPONSE
        return NOT_FOUND_RESPONSE

    async def slow_stream(self) -> None:
        transport = self.transport
        transport.write(STREAM_HEAD + http_chunk(stream_chunk("")))
        for _ in range(self.slow_events):
            await asyncio.sleep(self.slow_interval)
            if transport.is_closing():
                return
            transport.write(http_chunk(SLOW_EVENT))
        transport.write(http_chunk(stream_chunk(None, "stop")) + http_chunk(USAGE_EVENT) + http_chunk(DONE_EVENT))
        transport.write(b"0\r\n\r\n")
        while self.queue and not transport.is_closing():
            self.answer(*self.queue.pop(0))


async def serve(host: str, port: int, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    deadline = time.monotonic() + lifetime
    # Bounded: the mock stops by itself even if the benchmark that started it died.
    while not stop.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-interval", type=float, default=0.5)
    parser.add_argument("--slow-events", type=int, default=40)
    parser.add_argument("--lifetime", type=float, default=1800.0, help="seconds before the mock exits by itself")
    args = parser.parse_args()
    UpstreamProtocol.slow_interval = args.slow_interval
    UpstreamProtocol.slow_events = args.slow_events
    uvloop.run(serve(args.host, args.port, args.lifetime))


if __name__ == "__main__":
    main()
