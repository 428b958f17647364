"""Small ASGI helpers: reading a bounded body, sending JSON and headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from core.errors import GatewayError

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away before the request body was read."""


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    """Lower-case header names; of a repeated header the first value wins."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name not in headers:
            headers[name] = raw_value.decode("latin-1")
    return headers


def query_of(scope: dict[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    if not raw:
        return {}
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, "request_too_large", f"request body exceeds {limit} bytes")


async def body_read(receive: Receive, *, limit: int, declared_length: str | None) -> bytes:
    """Read the whole body, refusing with 413 as soon as it is known to exceed ``limit``."""
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def send_json(send: Send, status: int, payload: Any, headers: dict[str, str]) -> bytes:
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *encode_headers(headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return body
