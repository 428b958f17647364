"""The floor of the benchmark: the smallest ASGI app that forwards a request to the upstream.

It runs on the gateway's own stack (gunicorn with ``uvicorn_worker.UvicornWorker``, so uvloop
and httptools, started by ``bench.gateway_process.gateway_start`` like the gateway) and sends
through one pooled ``aiohttp.ClientSession`` with the settings of ``proxy.upstream``'s, but
does nothing else: no authentication, policy, identity, guardrail or record. What aidgate's
CPU a request costs above this one's is the price of its features (``feature_cost_ratio``);
nothing written in Python on this stack can go below it.

Streams (``text/event-stream``) pass through chunk by chunk as the upstream sends them; any
other answer is read whole and sent in one piece with its length, as the gateway does.

The upstream is ``BENCH_BARE_UPSTREAM`` (``http://127.0.0.1:<mock port>``); the path and
query of each request are appended to it. Django is never imported here.
Run: ``BENCH_BARE_UPSTREAM=http://127.0.0.1:18081 gunicorn -k uvicorn_worker.UvicornWorker
bench.bare_passthrough:app``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Per connection, not to forward (RFC 9110 7.6.1); the length is set again for what is sent,
# and aiohttp has already decoded any content coding (auto_decompress, as the proxy's client).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"host",
        b"content-length",
        b"content-encoding",
    }
)
# proxy.upstream's timeout for a provider (its default timeout_seconds): connect and each read.
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=60)
BAD_GATEWAY = b'{"error": {"message": "the upstream could not be reached", "type": "upstream_error"}}'


def client_session() -> aiohttp.ClientSession:
    """The proxy's pool settings (``proxy.upstream.UpstreamClient.session``), without its guard.

    The guard resolves host names under the SSRF rules; the bench's upstream is an IP literal,
    which aiohttp never hands to a resolver, so leaving it out changes nothing measured.
    ``tests/bench/test_bare_passthrough.py`` holds the two sets of settings equal.
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30)
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=True, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    )


def forwarded_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The client's headers for the upstream, the hop-by-hop ones left out."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in raw if name.lower() not in HOP_BY_HOP}


def answer_headers(raw: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    """The upstream's headers for the client, the hop-by-hop ones left out."""
    return [(name.lower(), value) for name, value in raw if name.lower() not in HOP_BY_HOP]


class BarePassthrough:
    """An ASGI 3 application forwarding every HTTP request to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the worker's running loop (after gunicorn's fork).
        if self._session is None or self._session.closed:
            self._session = client_session()
        return self._session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._session is not None:
                    await self._session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        query = scope.get("query_string") or b""
        url = self.upstream + scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if query:
            url += "?" + query.decode("latin-1")
        try:
            response = await self.session().request(
                scope["method"], url, headers=forwarded_headers(scope["headers"]), data=body or None,
                timeout=TIMEOUT, allow_redirects=False,
            )  # fmt: skip
        except (aiohttp.ClientError, TimeoutError):
            await _send_whole(send, 502, [(b"content-type", b"application/json")], BAD_GATEWAY)
            return
        async with response:
            headers = answer_headers(response.raw_headers)
            if response.content_type != "text/event-stream":
                await _send_whole(send, response.status, headers, await response.read())
                return
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_whole(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


app = BarePassthrough(os.environ.get("BENCH_BARE_UPSTREAM", "http://127.0.0.1:18081"))
