"""Kinds that already speak the OpenAI format: openai, openai_compatible, mistral, azure_openai.

Requests and streams pass through nearly untouched; streamed bytes are forwarded as they
arrive and only inspected for usage, never re-encoded.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.config_snapshot import ProviderEntry
from proxy.models import DEFAULT_BASE_URLS
from proxy.providers.base import UpstreamCall, Usage, estimate_tokens
from proxy.providers.sse import SSEBuffer

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


def usage_of(payload: dict[str, Any]) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or usage.get("input_tokens") or 0
    completion = usage.get("completion_tokens") or usage.get("output_tokens") or 0
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, reported=True)


class PassthroughStream:
    """Forwards OpenAI SSE bytes unchanged while reading usage (or counting text without it)."""

    __slots__ = ("_events", "_prompt_chars", "_text_chars", "error", "saw_done", "usage")

    def __init__(self, prompt_chars: int) -> None:
        self._events = SSEBuffer()
        self._prompt_chars = prompt_chars
        self._text_chars = 0
        self.saw_done = False
        self.error: str | None = None
        self.usage = Usage(prompt_tokens=estimate_tokens(prompt_chars))

    def feed(self, data: bytes) -> list[bytes]:
        for _raw, payload in self._events.feed(data):
            if payload == b"[DONE]":
                self.saw_done = True
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(chunk, dict):
                continue
            reported = usage_of(chunk)
            if reported is not None:
                self.usage = reported
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict):
                    content = delta.get("content")
                    if isinstance(content, str):
                        self._text_chars += len(content)
                    for call in delta.get("tool_calls") or ():
                        arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
                        if isinstance(arguments, str):
                            self._text_chars += len(arguments)
        if not self.usage.reported:
            self.usage.completion_tokens = estimate_tokens(self._text_chars)
        if self.saw_done:
            # [DONE] is held back: the pipeline sends it once the request's record is committed.
            data = data.replace(b"data: [DONE]\r\n\r\n", b"").replace(b"data: [DONE]\n\n", b"")
        return [data] if data else []

    def close(self) -> list[bytes]:
        return []


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
        return f"{base}/openai/deployments/{model}/{operation}?api-version={version}"

    def chat_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        call = super().chat_request(provider, model, body)
        # The deployment in the URL names the model; Azure ignores the body's model.
        call.json.pop("model", None)
        return call
