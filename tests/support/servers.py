"""Real servers for tests: a scriptable fake upstream (aiohttp) and the gateway under uvicorn.

Both run in background threads with their own event loops, on free loopback ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    raw_path: str = ""  # as sent, percent-escapes kept (``path`` is decoded)


@dataclass
class FakeUpstream:
    """An OpenAI-compatible upstream whose behaviour each test scripts.

    ``behaviour`` maps a path to a callable ``(SeenRequest) -> Response spec``: a dict with
    ``status``, ``json``, ``headers``, ``delay`` (seconds before answering), ``stream`` (list of SSE
    data payloads), ``events`` (``(event name or None, payload)`` pairs, for providers that
    name their events), ``raw`` (byte chunks written as they are: events split across reads,
    CRLF line ends), ``chunk_delay``, ``end_delay`` (seconds the stream stays open after its
    last chunk). Unscripted paths answer like OpenAI would.
    """

    port: int = 0
    requests: list[SeenRequest] = field(default_factory=list)
    behaviour: dict[str, Callable[[SeenRequest], dict[str, Any]]] = field(default_factory=dict)
    stream_disconnected: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self) -> SeenRequest:
        return self.requests[-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        seen = SeenRequest(
            request.method, request.path, dict(request.query), dict(request.headers), body, request.raw_path
        )
        self.requests.append(seen)
        script = self.behaviour.get(request.path)
        spec = script(seen) if script else default_answer(seen)
        if spec.get("delay"):
            await asyncio.sleep(spec["delay"])
        if "raw" in spec:
            chunks = list(spec["raw"])
        elif "events" in spec:
            chunks = [sse_event(name, payload) for name, payload in spec["events"]]
        elif "stream" in spec:
            chunks = [sse_event(None, payload) for payload in spec["stream"]]
        else:
            return web.json_response(spec.get("json", {}), status=spec.get("status", 200), headers=spec.get("headers"))
        response = web.StreamResponse(status=spec.get("status", 200), headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for chunk in chunks:
                await response.write(chunk)
                if spec.get("chunk_delay"):
                    await asyncio.sleep(spec["chunk_delay"])
            if spec.get("end_delay"):
                await asyncio.sleep(spec["end_delay"])
            await response.write_eof()
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            self.stream_disconnected.set()
            raise
        return response

    def start(self) -> FakeUpstream:
        ready = threading.Event()
        self.port = free_port()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, handler_cancellation=True)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True, name="fake-upstream").start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
        with contextlib.suppress(Exception):
            future.result(5)
        loop.call_soon_threadsafe(loop.stop)


def sse_event(name: str | None, payload: Any) -> bytes:
    """One server-sent event; a named one (``event: …``) as Anthropic and Cohere send them."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return (f"event: {name}\n" if name else "").encode() + f"data: {data}\n\n".encode()


def chat_completion(model: str, content: str = "Hello from upstream", prompt: int = 5, completion: int = 4) -> dict:
    return {
        "id": "chatcmpl-upstream1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def chat_stream(model: str, words: list[str], usage: tuple[int, int] | None = (5, 3)) -> list:
    base = {"id": "chatcmpl-upstream1", "object": "chat.completion.chunk", "created": 1700000000, "model": model}
    chunks: list = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        chunks.append(
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
            }
        )
    chunks.append("[DONE]")
    return chunks


def default_answer(seen: SeenRequest) -> dict[str, Any]:
    body = seen.json or {}
    model = body.get("model", "unknown")
    if seen.path.endswith("/embeddings"):
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        return {
            "json": {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))],
                "model": model,
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        }
    if body.get("stream"):
        return {"stream": chat_stream(model, ["Hello", " from", " upstream"])}
    return {"json": chat_completion(model)}


class PromptServer(uvicorn.Server):
    """uvicorn, stopping as soon as it is told to.

    uvicorn looks at its exit flag every 0.1 s, then gives open connections 0.1 s to hear of
    the shutdown: up to 0.2 s at the end of each of the ~550 tests that start a gateway. Here
    :meth:`exit_now` wakes the loop at once, and a server with no connection or request left
    goes straight to closing its sockets and its application's lifespan shutdown, as uvicorn's
    own shutdown does after that grace.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):  # the date header, once a second, and the exit flag
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    def exit_now(self) -> None:
        self.should_exit = True  # seen at the next tick if the loop is not running yet
        if (loop := self._loop) is not None and (wake := self._wake) is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed already
                loop.call_soon_threadsafe(wake.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.server_state.connections or self.server_state.tasks or sockets or self.force_exit:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


class GatewayServer:
    """The real ASGI application (``config.asgi.GatewayApplication``) under uvicorn in a thread."""

    def __init__(self) -> None:
        from config.asgi import GatewayApplication

        self.app = GatewayApplication()
        self.port = free_port()
        self._server = PromptServer(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="gateway")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        self._thread.start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        self._server.exit_now()
        self._thread.join(10)


def redis_url_for_tests() -> str | None:
    """REDIS_URL when the environment names one, else the machine's local Redis if it answers."""
    import os

    import redis

    # TEST_LOCAL_REDIS_URL: set by config/settings/test.py, one database per xdist worker.
    url = os.environ.get("REDIS_URL") or os.environ.get("TEST_LOCAL_REDIS_URL") or "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    return url


def database_url_of_test_db() -> str:
    """A DATABASE_URL naming the test database this run created, for gateway subprocesses."""
    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


class GatewayProcess:
    """A gateway in its own process (uvicorn), configured only through the environment."""

    def __init__(self, *, redis_url: str | None, extra_env: dict[str, str] | None = None) -> None:
        import os
        import sys

        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.local",
            DEBUG="true",
            DATABASE_URL=database_url_of_test_db(),
            CONFIG_CACHE_SECONDS="0.5",
            AUDIT_SEAL_IN_PROCESS="false",
            LOG_LEVEL="WARNING",
            **({"REDIS_URL": redis_url} if redis_url else {}),
        )
        env.update(extra_env or {})
        self._command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                         "--port", str(self.port), "--log-level", "warning"]  # fmt: skip
        self._env = env
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        import subprocess

        self.process = subprocess.Popen(self._command, env=self._env)
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
