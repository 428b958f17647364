"""Request bodies bound for Django (management API, console), bounded and made whole before
Django sees them.

Two gaps of the Django side that the proxy never had (SPEC 4: ``413 request_too_large``
above ``MAX_REQUEST_BYTES`` on the proxy and the management API alike):

- Django's ASGI handler spools *any* body to a temporary file before a view runs, and
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is checked only against a declared ``Content-Length``.
- A chunked body has no ``Content-Length``, and DRF reads a body without one as empty: the
  write answered 200 having changed nothing.

So a declared length over the limit is refused before any byte of the body is read, and a
body without one is read here within the limit and handed on with its length declared.
"""

from __future__ import annotations

from typing import Any

from core.api.errors import is_api_path
from core.errors import GatewayError, error_body
from core.ids import new_id
from proxy.http_io import ClientDisconnected, Receive, Send, body_read, headers_of, send_json

BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


def _declared_length(headers: dict[str, str]) -> int | None:
    """The declared length, when it alone frames the body (with ``Transfer-Encoding`` the
    server reads chunks, whatever the length says)."""
    raw = headers.get("content-length")
    if raw is None or "transfer-encoding" in headers or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


async def _too_large(scope: dict[str, Any], send: Send, limit: int) -> None:
    """The SPEC's envelope on API paths; a plain answer on console pages (no JSON client there)."""
    rid = new_id("req")
    message = f"request body exceeds {limit} bytes"
    if is_api_path(scope["path"]):
        await send_json(send, 413, error_body(413, "request_too_large", message, None, rid), {"X-Request-ID": rid})
        return
    body = message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BoundedBodyApplication:
    """Wraps Django's ASGI application: every body it reads is at most ``limit`` bytes and has
    a declared length."""

    def __init__(self, app: Any, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = headers_of(scope)
        declared = _declared_length(headers)
        if declared is not None:
            if declared > self.limit:
                await _too_large(scope, send, self.limit)
                return
            # The server delivers exactly the declared bytes; Django reads them as they are.
            await self.app(scope, receive, send)
            return
        if scope["method"] in BODYLESS_METHODS and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        try:
            body = await body_read(receive, limit=self.limit, declared_length=None)
        except ClientDisconnected:
            return
        except GatewayError:  # the body went past the limit
            await _too_large(scope, send, self.limit)
            return
        await self.app(_with_length(scope, len(body)), _replay(body, receive), send)


def _with_length(scope: dict[str, Any], length: int) -> dict[str, Any]:
    """The scope with ``Content-Length`` declared and the chunked framing gone (it was undone here)."""
    framing = (b"transfer-encoding", b"content-length")
    kept = [(name, value) for name, value in scope.get("headers", ()) if name.lower() not in framing]
    return {**scope, "headers": [*kept, (b"content-length", str(length).encode())]}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read here once, then the client's own messages
    (Django listens on it for a disconnect while the view runs)."""
    delivered = False

    async def replay() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
