"""The pooled upstream HTTP client and forwarding with alias fallbacks (SPEC 3.6)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver
from django.conf import settings

from core.errors import GatewayError
from core.upstream_guard import GuardedResolver, UpstreamAddressRefused, url_literal_refusal
from proxy.adapters.base import LocalResult, StreamTranslator, UpstreamCall, Usage
from proxy.adapters.openai_like import PassthroughStream
from proxy.adapters.registry import adapter_for
from proxy.dialects.base import Dialect
from proxy.request_context import RequestContext
from proxy.routing import Target

logger = logging.getLogger(__name__)
MAX_ERROR_BODY = 64 * 1024
# SPEC 3.6: a non-streamed answer over 64 MiB ends the request. Embeddings of many long
# inputs are the largest honest answers, and this is far above them.
MAX_UPSTREAM_BODY = 64 << 20


class UpstreamClient:
    """One ``aiohttp.ClientSession`` per process: keep-alive connections shared by all requests.

    Every host name is resolved through :class:`core.upstream_guard.GuardedResolver`, so the
    SSRF rules hold after DNS, for the address actually connected to. ``resolver`` replaces
    only the lookup under that guard (tests map names to chosen addresses with it).
    """

    def __init__(self, resolver: AbstractResolver | None = None) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._resolver = resolver

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No pool cap: the number of requests in flight bounds the connections, and a cap
            # would make the 1,001st concurrent stream to one provider wait for a slot.
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=0,
                ttl_dns_cache=300,
                keepalive_timeout=30,
                resolver=GuardedResolver(self._resolver),
            )
            # No cookie jar: the pool serves every tenant, so a cookie one provider answer sets
            # must never ride along on anybody's next request (and the jar costs every request).
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
            )
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
    # The upstream's first bytes, read before the answer is handed to the pipeline.
    first: bytes = b""


class UpstreamAnswerTooLarge(Exception):
    """A non-streamed answer passed :data:`MAX_UPSTREAM_BODY` (declared or as read)."""


def answer_too_large() -> GatewayError:
    """Final, not a reason to fall back: the provider did answer (and bill), only too much."""
    message = f"the provider's answer is over {MAX_UPSTREAM_BODY >> 20} MiB"
    return GatewayError(502, "upstream_error", message, "upstream_response_too_large")


class _Retryable(Exception):
    def __init__(self, error: GatewayError) -> None:
        self.error = error


def _address_refused(message: str) -> GatewayError:
    return GatewayError(502, "upstream_error", message, "upstream_address_refused")


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
    # IP literals never reach the resolver: they are checked here, on every request, so a
    # URL accepted while private upstreams were allowed is refused once they are not.
    refusal = url_literal_refusal(call.url, allow_private=settings.ALLOW_PRIVATE_UPSTREAMS)
    if refusal is not None:
        raise _Retryable(_address_refused(f"the provider's address is not allowed: {refusal}"))
    headers = {**call.headers, "X-Request-ID": ctx.id}
    if ctx.agent_id:
        headers["X-Agent-ID"] = ctx.agent_id
    # SPEC 3.10: every dialect, native or translated, and every kind goes through here.
    if ctx.identity is not None and target.provider.send_agent_identity:
        headers["X-Agent-Identity"] = ctx.identity.token(target.provider.id, ctx.id)
    try:
        response = await client.session().request(
            call.method,
            call.url,
            headers=headers,
            data=orjson.dumps(call.json) if call.json is not None else None,
            timeout=_client_timeout(timeout),
            allow_redirects=False,
        )
    except TimeoutError as exc:
        raise _Retryable(_final_error("timeout", "the provider timed out")) from exc
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, UpstreamAddressRefused):
            raise _Retryable(
                _address_refused("the provider's host name resolves to an address that is not allowed")
            ) from None
        raise _Retryable(_final_error("unreachable", "the provider could not be reached")) from exc
    except aiohttp.ClientError as exc:
        raise _Retryable(_final_error("unreachable", "the provider could not be reached")) from exc
    if response.status == 429 or response.status >= 500:
        message = await _error_message(response, target)
        kind = "rate_limited" if response.status == 429 else "unreachable"
        raise _Retryable(_final_error(kind, f"provider answered {response.status}: {message}"))
    if response.status >= 400:
        message = await _error_message(response, target)
        raise GatewayError(response.status, "upstream_error", message)
    return response


@functools.lru_cache(maxsize=64)
def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


async def _error_message(response: aiohttp.ClientResponse, target: Target) -> str:
    """The provider's own message, never the provider's credential (some echo it back)."""
    body = await _read_bounded(response)
    response.release()
    adapter = adapter_for(target.provider.kind)
    try:
        message = adapter.error_message(response.status, body) if adapter else "upstream error"
    except Exception:  # a hostile or broken error body must not turn into a 500
        message = "upstream error"
    api_key = target.provider.api_key
    if api_key and len(api_key) >= 8:
        message = message.replace(api_key, "[REDACTED]")
    return message


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.content.read(MAX_ERROR_BODY)
    except (aiohttp.ClientError, TimeoutError):
        return b""


@dataclass(slots=True)
class DialectRequest:
    """A request of a dialect (SPEC 3.8, 3.9): its own body goes to the dialect's native kinds,
    ``chat`` (its chat form, None when every target is native) to the others."""

    dialect: Dialect
    chat: dict[str, Any] | None


async def forward(
    client: UpstreamClient,
    ctx: RequestContext,
    targets: list[Target],
    body: dict[str, Any],
    prompt_chars: int,
    dialect: DialectRequest | None = None,
) -> JsonAnswer | StreamAnswer:
    """Try each target in order; fall back on connection error, timeout, 429 or 5xx."""
    last_error: GatewayError | None = None
    for target in targets:
        adapter = adapter_for(target.provider.kind)
        if adapter is None:
            last_error = GatewayError(502, "upstream_error", f"provider kind {target.provider.kind!r} is not available")
            continue
        ctx.provider_id, ctx.provider_kind, ctx.model_resolved = target.provider.id, target.provider.kind, target.model
        started = time.perf_counter()
        # No ``continue`` inside try/finally: mypyc (scripts/compile_hot.py) cannot compile one.
        retry_error: GatewayError | None = None
        try:
            answer = await _forward_one(client, ctx, adapter, target, body, prompt_chars, dialect)
        except _Retryable as retry:
            retry_error = retry.error
        finally:
            ctx.upstream_latency_ms = (time.perf_counter() - started) * 1000.0
        if retry_error is None:
            return answer
        last_error = retry_error
    raise last_error or GatewayError(502, "upstream_error", "no provider could answer")


async def _forward_one(
    client, ctx, adapter, target: Target, body, prompt_chars, dialect: DialectRequest | None
) -> JsonAnswer | StreamAnswer:
    embeddings = ctx.endpoint == "embeddings"
    # The dialect itself where this target speaks it natively: named apart so that its use is typed.
    native_dialect = None
    if dialect is not None and target.provider.kind in dialect.dialect.native_kinds:
        native_dialect = dialect.dialect
    native = native_dialect is not None
    # The client's (redacted) body: a dialect's answer from the chat form repeats its settings.
    request = body
    if dialect is not None and not native:
        body = dialect.chat
    if adapter.local:
        if embeddings:
            result = await adapter.embeddings_local(target.provider, target.model, body)
        else:
            result = await adapter.chat_local(target.provider, target.model, body, prompt_chars)
        if result.chunks is not None:
            if dialect is not None:
                # The local chunks are OpenAI SSE: read like an OpenAI stream, then translated.
                translator = dialect.dialect.chat_stream(PassthroughStream(prompt_chars), target.model, request)
                return StreamAnswer(translator=translator, local=result)
            return StreamAnswer(translator=None, local=result)
        if dialect is not None:
            return JsonAnswer(dialect.dialect.chat_answer(result.payload, target.model, request), result.usage)
        return JsonAnswer(result.payload, result.usage)
    if embeddings:
        call = adapter.embeddings_request(target.provider, target.model, body)
    elif native_dialect is not None:
        call = native_dialect.native_request(adapter, target.provider, target.model, body)
    else:
        call = adapter.chat_request(target.provider, target.model, body)
    response = await _send(client, call, target, ctx)
    timeout = target.provider.timeout_seconds
    if ctx.stream and not embeddings:
        # The first bytes are awaited here, before anything reaches the client, so a provider
        # that stalls, resets or closes before its first byte is a timeout or an error that
        # the next target can still take over (SPEC 3.6).
        try:
            first = await asyncio.wait_for(response.content.readany(), timeout=timeout)
        except TimeoutError as exc:
            response.close()
            raise _Retryable(_final_error("timeout", "the provider timed out")) from exc
        except aiohttp.ClientError as exc:
            response.close()
            raise _Retryable(_final_error("unreachable", "the provider closed the stream")) from exc
        if not first:
            response.close()
            raise _Retryable(_final_error("unreachable", "the provider closed the stream before its first byte"))
        if native_dialect is not None:
            translator = native_dialect.native_stream(target.model, prompt_chars)
        else:
            translator = adapter.stream_translator(target.model, prompt_chars)
            if dialect is not None:
                translator = dialect.dialect.chat_stream(translator, target.model, request)
        return StreamAnswer(translator=translator, response=response, first=first)
    try:
        raw = await asyncio.wait_for(_body_read(response), timeout=timeout)
    except UpstreamAnswerTooLarge:
        response.close()
        logger.warning("answer of provider %s over the cap (request %s)", target.provider.id, ctx.id)
        raise answer_too_large() from None
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
    if embeddings:
        translate = adapter.embeddings_response
    elif native_dialect is not None:
        translate = native_dialect.native_answer
    else:
        translate = adapter.chat_response
    try:
        translated, usage = translate(payload, target.model)
        if dialect is not None and not native:
            translated = dialect.dialect.chat_answer(translated, target.model, request)
    except GatewayError as error:
        if error.status >= 500:  # the provider reported a failed generation: try the next target
            raise _Retryable(error) from error
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # Valid JSON of the wrong shape: the provider's answer is unusable, like a 5xx.
        logger.warning("unexpected answer from provider %s: %s", target.provider.id, type(exc).__name__)
        raise _Retryable(_final_error("unreachable", "the provider answered with an unexpected body")) from exc
    return JsonAnswer(translated, usage)


async def _body_read(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, refusing one larger than ``MAX_UPSTREAM_BODY`` (memory is shared by all requests)."""
    declared = response.content_length
    if declared is not None and declared > MAX_UPSTREAM_BODY:
        raise UpstreamAnswerTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_UPSTREAM_BODY:
            raise UpstreamAnswerTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
