"""Which dialect serves each dialect endpoint (``/v1/{endpoint}``)."""

from __future__ import annotations

from proxy.dialects.anthropic_messages import MessagesDialect
from proxy.dialects.base import Dialect
from proxy.dialects.openai_responses import ResponsesDialect

DIALECTS: dict[str, Dialect] = {
    "messages": MessagesDialect(),
    "responses": ResponsesDialect(),
}


def dialect_for(endpoint: str) -> Dialect | None:
    return DIALECTS.get(endpoint)
