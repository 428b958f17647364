"""The bare passthrough, in its own process on uvloop and httptools, forwards a request and a
stream to a real fake upstream as they are, and keeps the proxy's client pool settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.bare_passthrough import client_session
from proxy.upstream import UpstreamClient
from tests.support.servers import FakeUpstream, free_port, sse_event, wait_for_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def bare(upstream):
    port = free_port()
    env = {**os.environ, "BENCH_BARE_UPSTREAM": upstream.url, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_passthrough:app", "--host", "127.0.0.1", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"],
        env=env, cwd=REPO,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_it_forwards_a_request_and_its_answer_as_they_are(upstream, bare):
    response = httpx.post(
        f"{bare}/v1/chat/completions?trace=1",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer upstream-key"},
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello from upstream"
    assert response.headers["content-length"] == str(len(response.content))
    seen = upstream.last()
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/chat/completions", {"trace": "1"})
    assert seen.headers["Authorization"] == "Bearer upstream-key"
    assert seen.json["messages"] == [{"role": "user", "content": "hi"}]


def test_it_passes_a_stream_through_chunk_by_chunk(upstream, bare):
    events = [{"n": n} for n in range(3)]
    upstream.behaviour["/v1/chat/completions"] = lambda seen: {"stream": events, "chunk_delay": 0.4}
    started = time.monotonic()
    with httpx.stream("POST", f"{bare}/v1/chat/completions", json={"stream": True}, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_raw()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    total = time.monotonic() - started
    # The first event arrives while the upstream still waits to send the next ones.
    assert first == sse_event(None, events[0])
    assert first_at < 0.35 < total
    assert first + rest == b"".join(sse_event(None, event) for event in events)


def test_an_unreachable_upstream_is_a_502(bare, upstream):
    upstream.stop()
    response = httpx.post(f"{bare}/v1/chat/completions", json={}, timeout=10)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"


def test_its_client_pool_has_the_proxys_settings():
    async def both() -> tuple:
        ours, proxy = client_session(), UpstreamClient().session()
        try:
            return tuple(
                (s.connector.limit, s.connector.limit_per_host, s.connector._cached_hosts._ttl,
                 s.connector._keepalive_timeout, s.auto_decompress, s.trust_env, type(s.cookie_jar))
                for s in (ours, proxy)
            )  # fmt: skip
        finally:
            await ours.close()
            await proxy.close()

    ours, proxy = asyncio.run(both())
    assert ours == proxy
