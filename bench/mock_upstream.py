"""A fast OpenAI-shaped upstream for the benchmark: raw asyncio protocol, httptools, uvloop.

It answers from prebuilt bytes so that it costs a small fraction of what the gateway costs:
``POST …/chat/completions`` (JSON, or an SSE stream when the body asks for one),
``POST …/embeddings`` and ``GET …/models``. Paths under ``/slow`` stream one event every
``--slow-interval`` seconds for ``--slow-events`` events, to hold many streams open at once.

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
EMBEDDING_RESPONSE = json_response(b"200 OK", EMBEDDING_ANSWER)
MODELS_RESPONSE = json_response(b"200 OK", MODELS_ANSWER)
NOT_FOUND_RESPONSE = json_response(b"404 Not Found", NOT_FOUND)


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
            if b'"stream"' in body and orjson.loads(body).get("stream") is True:
                return FAST_STREAM_RESPONSE
            return CHAT_RESPONSE
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
