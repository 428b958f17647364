"""Kinds that already speak the OpenAI format: openai, openai_compatible, mistral, azure_openai.

Requests and streams pass through nearly untouched; streamed bytes are forwarded as they
arrive and only inspected for usage, never re-encoded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from providers.kinds import DEFAULT_BASE_URLS
from proxy.adapters.base import UpstreamCall, Usage, estimate_tokens, stream_usage
from proxy.adapters.sse import SSEBuffer
from proxy.config_snapshot import ProviderEntry

AZURE_DEFAULT_API_VERSION = "2024-10-21"


def upstream_error_message(body: bytes) -> str:
    """The provider's own message, from the common JSON error shapes, else its text."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace").strip()[:500] or "upstream error"
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:500]
        if isinstance(error, str):
            return error[:500]
        if isinstance(payload.get("message"), str):
            return payload["message"][:500]
    return "upstream error"


# Above any real request; keeps a hostile or broken provider's numbers from overflowing the
# record's integer columns (and with them the group commit of every record in its batch).
MAX_REPORTED_TOKENS = 100_000_000


def _token_count(usage: dict[str, Any], *names: str) -> int | None:
    """The first present count of ``names``: clamped to [0, MAX_REPORTED_TOKENS]; None if not an integer."""
    value = next((usage[name] for name in names if usage.get(name)), 0)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return min(max(value, 0), MAX_REPORTED_TOKENS)


def usage_of(payload: dict[str, Any]) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = _token_count(usage, "prompt_tokens", "input_tokens")
    completion = _token_count(usage, "completion_tokens", "output_tokens")
    if prompt is None or completion is None:
        return None
    # Chat completions say prompt_tokens_details, the Responses API input_tokens_details.
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    cached = _token_count(details, "cached_tokens") if isinstance(details, dict) else 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion, reported=True, cached_tokens=cached or 0)


def _text_chars(chunk: dict[str, Any]) -> int:
    """Characters of generated text (content and tool-call arguments) in one stream chunk."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return 0
    total = 0
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        content = delta.get("content")
        if isinstance(content, str):
            total += len(content)
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(arguments, str):
                total += len(arguments)
    return total


def _finished(chunk: dict[str, Any]) -> bool:
    choices = chunk.get("choices")
    return isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") for c in choices)


class PassthroughStream:
    """Relays OpenAI SSE events unchanged while reading usage (or counting text without it).

    Events go out whole, as soon as each is complete, and only when they are what a client
    SDK can read: a ``data`` payload that is a JSON object, or a comment (keep-alive).
    Malformed events are dropped rather than relayed, and ``[DONE]`` is held back: the
    pipeline sends it once the request's record is committed. ``complete`` tells whether the
    upstream finished its answer (``[DONE]`` or a ``finish_reason``) or stopped short.
    """

    __slots__ = (
        "_carry", "_events", "_prompt_chars", "_text_chars", "error", "saw_done", "saw_finish", "sink", "usage",
    )  # fmt: skip

    def __init__(self, prompt_chars: int) -> None:
        self._events = SSEBuffer()
        self._carry = b""
        self._prompt_chars = prompt_chars
        self._text_chars = 0
        self.saw_done = False
        self.saw_finish = False
        self.error: str | None = None
        self.usage = Usage(prompt_tokens=estimate_tokens(prompt_chars))
        self.sink: list[dict[str, Any]] | None = None

    @property
    def complete(self) -> bool:
        return self.saw_done or self.saw_finish

    def feed(self, data: bytes) -> list[bytes]:
        # A CRLF split between two reads is joined before parsing: hold back a trailing CR.
        data, self._carry = self._carry + data, b""
        if data.endswith(b"\r"):
            data, self._carry = data[:-1], b"\r"
        return self._relay(self._events.feed(data))

    def close(self) -> list[bytes]:
        # An upstream that closes right after its last event may leave out the blank line.
        return self._relay(self._events.feed(self._carry + b"\n\n"))

    def spent(self) -> Usage:
        return stream_usage(self.usage, self._text_chars, complete=self.complete and self.error is None)

    def _relay(self, events: list[tuple[bytes, bytes]]) -> list[bytes]:
        out = [raw for raw, payload in events if self._event_accept(raw, payload)]
        if not self.usage.reported:
            self.usage.completion_tokens = estimate_tokens(self._text_chars)
        return [b"".join(out)] if out and self.sink is None else []

    def _event_accept(self, raw: bytes, payload: bytes) -> bool:
        if self.saw_done:
            return False  # nothing may follow [DONE]
        if not payload:
            lines = [line for line in raw.split(b"\n") if line]
            return bool(lines) and all(line.startswith(b":") for line in lines)
        if payload.strip() == b"[DONE]":
            self.saw_done = True
            return False
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(chunk, dict):
            return False
        if "error" in chunk:
            # The provider's own mid-stream error event: relayed, and recorded as such.
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            self.error = message[:500] if isinstance(message, str) and message else "upstream error"
            if self.sink is not None:
                self.sink.append(chunk)
            return True
        reported = usage_of(chunk)
        if reported is not None:
            self.usage = reported
        self._text_chars += _text_chars(chunk)
        self.saw_finish = self.saw_finish or _finished(chunk)
        if self.sink is not None:
            self.sink.append(chunk)
        return True


class OpenAIAdapter:
    kind = "openai"
    local = False
    path_prefix = ""
    sends_stream_usage_option = True

    def base_url(self, provider: ProviderEntry) -> str:
        return (provider.base_url or DEFAULT_BASE_URLS.get(provider.kind, DEFAULT_BASE_URLS["openai"])).rstrip("/")

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}

    def url(self, provider: ProviderEntry, model: str, operation: str) -> str:
        return f"{self.base_url(provider)}/{operation}"

    def _call(self, provider: ProviderEntry, model: str, operation: str, body: dict[str, Any]) -> UpstreamCall:
        headers = {**provider.extra_headers, **self.auth_headers(provider), "Content-Type": "application/json"}
        return UpstreamCall("POST", self.url(provider, model, operation), headers, body)

    def chat_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        upstream = {**body, "model": model}
        if upstream.get("stream") and self.sends_stream_usage_option:
            options = upstream.get("stream_options") if isinstance(upstream.get("stream_options"), dict) else {}
            upstream["stream_options"] = {**options, "include_usage": True}
        return self._call(provider, model, "chat/completions", upstream)

    def chat_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        return payload, usage_of(payload) or Usage()

    def stream_translator(self, model: str, prompt_chars: int) -> PassthroughStream:
        return PassthroughStream(prompt_chars)

    def embeddings_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        return self._call(provider, model, "embeddings", {**body, "model": model})

    def embeddings_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        return payload, usage_of(payload) or Usage()

    def error_message(self, status: int, body: bytes) -> str:
        return upstream_error_message(body)


class MistralAdapter(OpenAIAdapter):
    kind = "mistral"
    # Mistral reports usage in its last chunk by itself.
    sends_stream_usage_option = False


class AzureOpenAIAdapter(OpenAIAdapter):
    """Deployment URLs: ``{base}/openai/deployments/{model}/{operation}?api-version=…``, key in ``api-key``."""

    kind = "azure_openai"

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {"api-key": provider.api_key} if provider.api_key else {}

    def url(self, provider: ProviderEntry, model: str, operation: str) -> str:
        version = provider.api_version or AZURE_DEFAULT_API_VERSION
        base = self.base_url(provider)
        if base.endswith("/openai"):
            base = base[: -len("/openai")]
        # The deployment is one escaped path segment, whatever the model name holds (SPEC 3.6).
        return f"{base}/openai/deployments/{quote(model, safe='')}/{operation}?api-version={version}"

    def chat_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        call = super().chat_request(provider, model, body)
        # The deployment in the URL names the model; Azure ignores the body's model.
        call.json.pop("model", None)
        return call
