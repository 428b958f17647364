"""The pooled upstream HTTP client and forwarding with alias fallbacks (SPEC 3.6)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from core.errors import GatewayError
from proxy.providers import adapter_for
from proxy.providers.base import LocalResult, StreamTranslator, UpstreamCall, Usage
from proxy.request_context import RequestContext
from proxy.routing import Target

MAX_ERROR_BODY = 64 * 1024


class UpstreamClient:
    """One ``aiohttp.ClientSession`` per process: keep-alive connections shared by all requests."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=2000, limit_per_host=1000, ttl_dns_cache=300, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass(slots=True)
class JsonAnswer:
    payload: dict[str, Any]
    usage: Usage


@dataclass(slots=True)
class StreamAnswer:
    translator: StreamTranslator | None
    response: aiohttp.ClientResponse | None = None
    local: LocalResult | None = None


class _Retryable(Exception):
    def __init__(self, error: GatewayError) -> None:
        self.error = error


def _final_error(kind: str, message: str) -> GatewayError:
    if kind == "timeout":
        return GatewayError(504, "upstream_timeout", message)
    if kind == "rate_limited":
        return GatewayError(429, "rate_limited", message, "upstream_rate_limited", headers={"Retry-After": "1"})
    return GatewayError(502, "upstream_error", message)


async def _send(
    client: UpstreamClient, call: UpstreamCall, target: Target, ctx: RequestContext
) -> aiohttp.ClientResponse:
    timeout = target.provider.timeout_seconds
    headers = {**call.headers, "X-Request-ID": ctx.id}
    if ctx.agent_id:
        headers["X-Agent-ID"] = ctx.agent_id
    try:
        response = await client.session().request(
            call.method,
            call.url,
            headers=headers,
            data=orjson.dumps(call.json) if call.json is not None else None,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
            allow_redirects=False,
        )
    except TimeoutError as exc:
        raise _Retryable(_final_error("timeout", "the provider timed out")) from exc
    except aiohttp.ClientError as exc:
        raise _Retryable(_final_error("unreachable", "the provider could not be reached")) from exc
    if response.status == 429 or response.status >= 500:
        body = await _read_bounded(response)
        response.release()
        adapter = adapter_for(target.provider.kind)
        kind = "rate_limited" if response.status == 429 else "unreachable"
        message = adapter.error_message(response.status, body) if adapter else "upstream error"
        raise _Retryable(_final_error(kind, f"provider answered {response.status}: {message}"))
    if response.status >= 400:
        body = await _read_bounded(response)
        response.release()
        adapter = adapter_for(target.provider.kind)
        message = adapter.error_message(response.status, body) if adapter else "upstream error"
        raise GatewayError(response.status, "upstream_error", message)
    return response


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.content.read(MAX_ERROR_BODY)
    except (aiohttp.ClientError, TimeoutError):
        return b""


async def forward(
    client: UpstreamClient, ctx: RequestContext, targets: list[Target], body: dict[str, Any], prompt_chars: int
) -> JsonAnswer | StreamAnswer:
    """Try each target in order; fall back on connection error, timeout, 429 or 5xx."""
    last_error: GatewayError | None = None
    for target in targets:
        adapter = adapter_for(target.provider.kind)
        if adapter is None:
            last_error = GatewayError(502, "upstream_error", f"provider kind {target.provider.kind!r} is not available")
            continue
        ctx.provider_id, ctx.model_resolved = target.provider.id, target.model
        started = time.perf_counter()
        try:
            answer = await _forward_one(client, ctx, adapter, target, body, prompt_chars)
        except _Retryable as retry:
            last_error = retry.error
            continue
        finally:
            ctx.upstream_latency_ms = (time.perf_counter() - started) * 1000.0
        return answer
    raise last_error or GatewayError(502, "upstream_error", "no provider could answer")


async def _forward_one(client, ctx, adapter, target: Target, body, prompt_chars) -> JsonAnswer | StreamAnswer:
    embeddings = ctx.endpoint == "embeddings"
    if adapter.local:
        if embeddings:
            result = await adapter.embeddings_local(target.provider, target.model, body)
        else:
            result = await adapter.chat_local(target.provider, target.model, body, prompt_chars)
        if result.chunks is not None:
            return StreamAnswer(translator=None, local=result)
        return JsonAnswer(result.payload, result.usage)
    if embeddings:
        call = adapter.embeddings_request(target.provider, target.model, body)
    else:
        call = adapter.chat_request(target.provider, target.model, body)
    response = await _send(client, call, target, ctx)
    if ctx.stream and not embeddings:
        return StreamAnswer(translator=adapter.stream_translator(target.model, prompt_chars), response=response)
    try:
        raw = await asyncio.wait_for(response.read(), timeout=target.provider.timeout_seconds)
    except TimeoutError as exc:
        response.close()
        raise _Retryable(_final_error("timeout", "the provider timed out")) from exc
    except aiohttp.ClientError as exc:
        response.close()
        raise _Retryable(_final_error("unreachable", "the provider closed the connection")) from exc
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Retryable(_final_error("unreachable", "the provider answered with invalid JSON")) from exc
    if not isinstance(payload, dict):
        raise _Retryable(_final_error("unreachable", "the provider answered with unexpected JSON"))
    translate = adapter.embeddings_response if embeddings else adapter.chat_response
    try:
        translated, usage = translate(payload, target.model)
    except GatewayError as error:
        if error.status >= 500:  # the provider reported a failed generation: try the next target
            raise _Retryable(error) from error
        raise
    return JsonAnswer(translated, usage)
