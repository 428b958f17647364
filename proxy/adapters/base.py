"""The provider interface: each kind translates requests, responses, stream chunks, usage
and errors between the OpenAI format the client speaks and its own wire format."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from providers.kinds import DEFAULT_BASE_URLS
from proxy.config_snapshot import ProviderEntry


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # True when the numbers come from the provider, False when estimated from text.
    reported: bool = False
    # Of the prompt tokens, those the provider served from its prompt cache (priced lower).
    cached_tokens: int = 0


@dataclass(slots=True)
class UpstreamCall:
    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None


@dataclass(slots=True)
class LocalResult:
    """What a provider that answers in-process (``mock``) returns instead of an HTTP call."""

    status: int
    payload: dict[str, Any] | None = None
    chunks: AsyncIterator[bytes] | None = None
    usage: Usage = field(default_factory=Usage)


def estimate_tokens(text_length: int) -> int:
    """The documented estimator: one token per four characters, rounded up."""
    return math.ceil(text_length / 4) if text_length else 0


def stream_usage(usage: Usage, text_chars: int, *, complete: bool) -> Usage:
    """What a stream cost, however it ended: the record and the limits count this.

    A complete stream counts as its provider reported it. One that stopped short (the client
    left, the provider failed, a cap ended it) has at best a partial report (Anthropic's
    ``message_start`` says one output token; OpenAI sends usage after the last chunk), so its
    completion is at least the estimate of the text relayed so far, with the estimator the
    reservation uses: a client that drops a stream must not get its text for free.
    """
    if complete:
        return usage
    completion = max(usage.completion_tokens, estimate_tokens(text_chars))
    return Usage(usage.prompt_tokens, completion, usage.reported, usage.cached_tokens)


class StreamTranslator(Protocol):
    usage: Usage
    # Set when the upstream reported an error mid-stream (the client got an error chunk).
    error: str | None
    # Set by a client dialect that turns the chunks into its own events: each OpenAI chunk
    # (an ``{"error": …}`` one included) is appended here as the object it is, and ``feed``
    # and ``close`` return no bytes, rather than encoding chunks the dialect would parse again.
    sink: list[dict[str, Any]] | None

    def feed(self, data: bytes) -> list[bytes]:
        """Upstream bytes in, OpenAI SSE bytes to send to the client out."""

    def close(self) -> list[bytes]:
        """Bytes to send when the upstream stream has ended (e.g. a final usage chunk).

        Never ``data: [DONE]``: the pipeline sends that itself, once the record is committed.
        """

    def spent(self) -> Usage:
        """What the stream has cost so far, whenever it is asked (see :func:`stream_usage`)."""


class ProviderAdapter(Protocol):
    kind: str
    local: bool

    def chat_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall: ...

    def chat_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]: ...

    def stream_translator(self, model: str, prompt_chars: int) -> StreamTranslator: ...

    def embeddings_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall: ...

    def embeddings_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]: ...

    def error_message(self, status: int, body: bytes) -> str: ...


class HostRootAdapter:
    """What the translating kinds share: their SDKs take the host root as base URL, and a
    provider's own ``base_url`` wins over the kind's public default."""

    kind: str
    local = False

    def base_url(self, provider: ProviderEntry) -> str:
        return (provider.base_url or DEFAULT_BASE_URLS[self.kind]).rstrip("/")
