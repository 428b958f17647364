"""Fixtures for the translating provider kinds: a fake upstream that speaks each provider's SSE."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from tests import factories
from tests.support.servers import FakeUpstream, SeenRequest, default_answer

PROVIDER_SECRET = "provider-secret-key-123"


class ProviderUpstream(FakeUpstream):
    """A :class:`FakeUpstream` that can also answer with named SSE events.

    Besides the base specs, a behaviour may return ``events``: a list of ``(event name or None,
    payload)`` sent as ``event: …`` / ``data: …`` blocks (Anthropic and Cohere name their
    events), and ``raw``: byte chunks written as they are (to split events across reads, or to
    use Gemini's CRLF line ends).
    """

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        seen = SeenRequest(request.method, request.path, dict(request.query), dict(request.headers), body)
        self.requests.append(seen)
        script = self.behaviour.get(request.path)
        spec = script(seen) if script else default_answer(seen)
        if spec.get("delay"):
            await asyncio.sleep(spec["delay"])
        if "raw" in spec:
            chunks = spec["raw"]
        elif "events" in spec:
            chunks = [_event_bytes(name, payload) for name, payload in spec["events"]]
        elif "stream" in spec:
            chunks = [_event_bytes(None, payload) for payload in spec["stream"]]
        else:
            return web.json_response(spec.get("json", {}), status=spec.get("status", 200))
        response = web.StreamResponse(status=spec.get("status", 200), headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(chunk)
            if spec.get("chunk_delay"):
                await asyncio.sleep(spec["chunk_delay"])
        await response.write_eof()
        return response


def _event_bytes(name: str | None, payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return (f"event: {name}\n" if name else "").encode() + f"data: {data}\n\n".encode()


@pytest.fixture
def upstream():
    server = ProviderUpstream().start()
    yield server
    server.stop()


def provider_for(world, kind: str, **fields: Any):
    """A provider of ``kind`` pointed at the world's fake upstream (the host root, as the SDKs take it)."""
    fields.setdefault("base_url", world.upstream.url)
    fields.setdefault("api_key", PROVIDER_SECRET)
    fields.setdefault("timeout_seconds", 5)
    return factories.make_provider(world.tenant, kind=kind, **fields)


def stream_text(stream, received: list[str]) -> None:
    """Collects the streamed text into ``received`` (which keeps what came before an error)."""
    for chunk in stream:
        received.extend(choice.delta.content or "" for choice in chunk.choices)


def stream_tool_calls(stream) -> tuple[dict[int, dict[str, Any]], str | None]:
    """Tool calls assembled from their deltas, as a client does, and the last finish reason."""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function is not None:
                    call["name"] = delta.function.name or call["name"]
                    call["arguments"] += delta.function.arguments or ""
    return calls, finish
