"""Helpers for the translating provider kinds (the shared FakeUpstream speaks their SSE too)."""

from __future__ import annotations

from typing import Any

from tests import factories

PROVIDER_SECRET = "provider-secret-key-123"


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
