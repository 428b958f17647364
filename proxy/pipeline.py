"""The proxy's request path: authenticate → choose app → identity → checks → route →
forward → record. Each stage lives in its own module; this one only sequences them and
turns their outcome into exactly one response and exactly one record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
import orjson

from core.errors import GatewayError, error_body
from providers.pricing import price_of
from proxy.access import scope_check
from proxy.adapters.base import Usage
from proxy.adapters.sse import MAX_STREAM_EVENT_BYTES, UpstreamEventTooLarge
from proxy.authentication import caller_authenticate
from proxy.config_snapshot import AppEntry, KeyEntry, TenantConfig
from proxy.dialects.base import Dialect, DialectStream
from proxy.dialects.registry import dialect_for
from proxy.end_user import client_request_id_read, conversation_id_read, header_identity_resolve
from proxy.guardrails import guardrails_apply
from proxy.http_io import ClientDisconnected, Receive, Send, body_read, encode_headers, send_json
from proxy.metrics import request_count
from proxy.policy_enforcement import (
    endpoint_check,
    hours_check,
    limits_admit,
    max_tokens_check,
    model_policy_check,
    policy_allows_model,
    requested_max_tokens,
    token_estimate,
)
from proxy.policy_resolution import effective_policy
from proxy.request_body import chat_body_check, embeddings_body_check, json_body_parse
from proxy.request_context import RequestContext
from proxy.routing import Target, concrete_model_names, model_not_found, route_resolve
from proxy.runtime import GatewayRuntime
from proxy.upstream import DialectRequest, JsonAnswer, StreamAnswer, forward

logger = logging.getLogger(__name__)
# What the client's closing error event says, per reason of a stream the provider broke off.
STREAM_FAILURES = {
    "upstream_event_too_large": f"the provider sent a stream event over {MAX_STREAM_EVENT_BYTES >> 20} MiB",
    "upstream_stream_interrupted": "the provider's stream ended before the answer was complete",
    "upstream_stream_invalid": "the provider's stream ended before the answer was complete",
    "upstream_stream_incomplete": "the provider's stream ended before the answer was complete",
}


async def request_handle(ctx: RequestContext, receive: Receive, send: Send, runtime: GatewayRuntime) -> None:
    """Serve one proxied request; never raises, always records once the tenant is known."""
    try:
        client_request_id_read(ctx)
        config, app, key = await caller_authenticate(ctx, runtime.config, runtime.tokens)
        if key is not None:
            runtime.last_use.note(key.id)
        await _serve(ctx, receive, send, runtime, config, app, key)
    except GatewayError as error:
        await _respond_error(ctx, send, runtime, error)
    except ClientDisconnected:
        ctx.status_code, ctx.error_code, ctx.error_reason = 499, "client_disconnected", "client_disconnected"
        await _record(ctx, runtime)
    except Exception:
        logger.exception("unexpected error in the proxy pipeline (request %s)", ctx.id)
        await _respond_error(ctx, send, runtime, GatewayError(500, "internal_error", "internal error"))


async def _serve(
    ctx: RequestContext, receive: Receive, send: Send, runtime: GatewayRuntime,
    config: TenantConfig, app: AppEntry, key: KeyEntry | None,
) -> None:  # fmt: skip
    dialect = dialect_for(ctx.endpoint)
    # Scopes and allowed_endpoints know chat, embeddings and models (SPEC 3.4): a dialect is chat.
    policy_endpoint = dialect.policy_endpoint if dialect is not None else ctx.endpoint
    scope_check(policy_endpoint, ctx.scopes)
    header_identity_resolve(ctx, app, key)
    conversation_id_read(ctx)
    policy = effective_policy(config, app_id=app.id, agent=ctx.agent, key=key)
    ctx.policy_ids = list(policy.policy_ids)
    endpoint_check(policy, policy_endpoint)
    hours_check(policy)
    fail_modes = (config.rate_limit_fail_mode, config.budget_fail_mode)

    if ctx.endpoint == "models":
        await limits_admit(ctx, policy, runtime.limits, estimate=0, fail_modes=fail_modes)
        # A list of what exists: it names a provider or alias created a moment ago elsewhere.
        config = await runtime.config.tenant_confirmed(config, ctx.started)
        names = [m for m in concrete_model_names(config) if policy_allows_model(policy, m)]
        created = int(ctx.started_wall)
        payload = {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": created, "owned_by": "aidgate"} for m in names],
        }
        ctx.status_code = 200
        if not await _record(ctx, runtime):
            raise record_unavailable()
        await send_json(send, 200, payload, _headers(ctx))
        return

    raw = await body_read(receive, limit=runtime.max_request_bytes, declared_length=ctx.headers.get("content-length"))
    body = json_body_parse(raw)
    if dialect is not None:
        model, ctx.stream, prompt_chars = dialect.body_check(body)
        requested = dialect.max_output_tokens(body)
    elif ctx.endpoint == "chat":
        model, ctx.stream, prompt_chars = chat_body_check(body)
        requested = requested_max_tokens(body)
    else:
        model, prompt_chars = embeddings_body_check(body)
        requested = None
    ctx.model_requested = model
    ctx.body = body
    model_policy_check(policy, model, ctx.agent_id)
    max_tokens_check(policy, requested)
    if dialect is not None:
        redacted = guardrails_apply(app.guardrails, body, dialect.text_slots)
    else:
        redacted = guardrails_apply(app.guardrails, body)
    targets, config = await _route(ctx, runtime, config, model)
    dialect_request = None
    if dialect is not None:
        # The chat form of the (redacted) body, when a target may need it: what it cannot carry
        # is refused here, before anything is sent upstream.
        translated = any(target.provider.kind not in dialect.native_kinds for target in targets)
        dialect_request = DialectRequest(dialect, dialect.chat_body(body) if translated else None)
    estimate = token_estimate(policy, prompt_chars, requested, completes=ctx.endpoint != "embeddings")
    await limits_admit(ctx, policy, runtime.limits, estimate=estimate, fail_modes=fail_modes)
    if app.capture_bodies:
        # What is kept is what was sent upstream: after redaction.
        captured = orjson.dumps(body) if redacted else raw
        ctx.request_body_capture = captured[: app.body_capture_max_bytes].decode("utf-8", "replace")

    if any(target.provider.send_agent_identity for target in targets):
        ctx.identity = await runtime.identity.stamp(ctx, config)
    answer = await forward(runtime.upstream, ctx, targets, body, prompt_chars, dialect_request)
    if isinstance(answer, JsonAnswer):
        ctx.prompt_tokens, ctx.completion_tokens = answer.usage.prompt_tokens, answer.usage.completion_tokens
        ctx.cached_tokens = answer.usage.cached_tokens
        ctx.status_code = 200
        ctx.cost_usd = _cost(config, ctx)
        encoded = orjson.dumps(answer.payload)
        if app.capture_bodies:
            ctx.response_body_capture = encoded[: app.body_capture_max_bytes].decode("utf-8", "replace")
        if not await _record(ctx, runtime):
            raise record_unavailable()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(encoded)).encode()),
                    *encode_headers(_headers(ctx)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": encoded})
        return
    await _stream(ctx, receive, send, runtime, config, answer, dialect)


async def _route(
    ctx: RequestContext, runtime: GatewayRuntime, config: TenantConfig, model: str
) -> tuple[list[Target], TenantConfig]:
    """The targets for ``model``. A model no provider or alias serves is refused only once the
    database confirms that the snapshot is current (one created elsewhere a moment ago), and a
    name found by its family alone is confirmed the same way the first time a snapshot routes
    it, since an alias or provider pattern created a moment ago may take it over."""
    try:
        targets, how = route_resolve(config, model)
    except GatewayError as error:
        if error.code != "model_not_found":
            raise
        targets, how = [], "none"
    if how == "none" or (how == "family" and model not in config.family_confirmed):
        fresh = await runtime.config.tenant_confirmed(config, ctx.started)
        if fresh is not config:
            config = fresh
            targets, how = route_resolve(config, model)  # still none: model_not_found
        elif how == "none":
            raise model_not_found(model)
        if how == "family":
            if len(config.family_confirmed) > 10_000:
                config.family_confirmed.clear()
            config.family_confirmed.add(model)
    return targets, config


async def _stream(
    ctx: RequestContext,
    receive: Receive,
    send: Send,
    runtime: GatewayRuntime,
    config: TenantConfig,
    answer: StreamAnswer,
    dialect: Dialect | None = None,
) -> None:
    """Relay a stream chunk by chunk; the client leaving cancels the upstream call.

    Once the 200 has gone out nothing can turn the answer into an error response: an
    upstream that fails mid-stream (reset, stall past its timeout, truncation, bytes no
    translator can read) ends the stream with an SSE error event in the SPEC's envelope,
    then ``[DONE]`` once the record, which names the failure, is committed. A dialect's
    stream ends the same way, in its own events (``DialectStream.ending``).
    """
    ctx.status_code = 200
    started = False
    # A dialect's stream writes the pipeline's own error events too, in its numbering.
    dialect_stream = cast(DialectStream | None, answer.translator) if dialect is not None else None

    async def body_send(chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def pieces_send(pieces: list[bytes]) -> None:
        """What a translator made of one read, in one send: a send (a socket write) costs more
        than the events of a translating kind or a dialect, which come several a read."""
        if len(pieces) == 1:
            await body_send(pieces[0])
        elif pieces:
            await body_send(b"".join(pieces))

    async def pump() -> None:
        nonlocal started
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    *encode_headers(_headers(ctx)),
                ],
            }
        )
        started = True
        local, translator, response = answer.local, answer.translator, answer.response
        chunks = local.chunks if local is not None else None
        if chunks is not None and translator is None:
            async for chunk in chunks:
                if chunk == b"data: [DONE]\n\n":
                    break
                await body_send(chunk)
        elif chunks is not None and translator is not None:
            # A local kind's OpenAI chunks, translated into a dialect's events.
            async for chunk in chunks:
                await pieces_send(translator.feed(chunk))
            await pieces_send(translator.close())
        elif translator is not None and response is not None:
            failure: str | None = None
            try:
                await pieces_send(translator.feed(answer.first))
                async for data in response.content.iter_any():
                    await pieces_send(translator.feed(data))
            except UpstreamEventTooLarge:
                failure = "upstream_event_too_large"
                logger.warning("upstream stream event over %d bytes (request %s)", MAX_STREAM_EVENT_BYTES, ctx.id)
            except (TimeoutError, aiohttp.ClientError) as exc:
                failure = "upstream_stream_interrupted"
                logger.warning("upstream stream ended early (request %s): %s", ctx.id, type(exc).__name__)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                failure = "upstream_stream_invalid"
                logger.warning("unreadable upstream stream (request %s): %s", ctx.id, type(exc).__name__)
            finally:
                response.close()
            if failure != "upstream_event_too_large":  # the translator holds nothing but that event
                try:
                    # Also after an interruption: what the translator still holds (usage, a last chunk).
                    await pieces_send(translator.close())
                except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                    failure = failure or "upstream_stream_invalid"
                    logger.warning("unreadable upstream stream (request %s): %s", ctx.id, type(exc).__name__)
            if getattr(translator, "error", None):
                # The provider's own error event already reached the client.
                ctx.error_code, ctx.error_reason = "upstream_error", failure or "upstream_stream_error"
            elif failure is not None or not getattr(translator, "complete", True):
                ctx.error_code, ctx.error_reason = "upstream_error", failure or "upstream_stream_incomplete"
                await body_send(_stream_error_event(ctx, STREAM_FAILURES[ctx.error_reason], dialect_stream))

    async def watch_disconnect() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    pump_task = asyncio.create_task(pump())
    watch_task = asyncio.create_task(watch_disconnect())
    try:
        done, _ = await asyncio.wait({pump_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch_task.cancel()
    if pump_task not in done:
        pump_task.cancel()
        # The client is gone: whatever the pump raised on the way out no longer matters.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump_task
        if answer.response is not None:
            answer.response.close()
        ctx.error_reason = "client_disconnected"
        _stream_cost(ctx, config, answer)
        await _record(ctx, runtime)
        return
    try:
        pump_task.result()
    except OSError:
        ctx.error_reason = "client_disconnected"
    except Exception:
        if not started:
            raise  # nothing was sent: request_handle answers with an error response
        logger.exception("stream relay failed (request %s)", ctx.id)
        ctx.error_code, ctx.error_reason = "internal_error", "internal_error"
        with contextlib.suppress(OSError):
            await body_send(_stream_error_event(ctx, "internal error", dialect_stream))
    _stream_cost(ctx, config, answer)
    recorded = await _record(ctx, runtime)
    if started:
        # [DONE] goes out only once the record is committed; without it the stream ends on an
        # error event, so no client takes an unrecorded answer for a complete one.
        if dialect_stream is not None:
            ending = dialect_stream.ending(failed=ctx.error_code is not None)
        else:
            ending = b"data: [DONE]\n\n"
        if not recorded:
            error = record_unavailable()
            if dialect_stream is not None:
                ending = dialect_stream.error_event(error.status, error.code, error.message, error.reason, ctx.id)
            else:
                ending = b"data: " + orjson.dumps(error.body(ctx.id)) + b"\n\n"
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": ending, "more_body": False})


def _stream_cost(ctx: RequestContext, config: TenantConfig, answer: StreamAnswer) -> None:
    """Tokens and cost of a stream, however it ended, before its record and its settlement.

    The one place a stream is priced: a stream the client left, or one the provider broke
    off, counts what was streamed (the provider's usage where it arrived, else the estimate
    of the text relayed), so dropping the connection never makes an answer free.
    """
    translator, local = answer.translator, answer.local
    usage = translator.spent() if translator is not None else local.usage if local is not None else Usage()
    ctx.prompt_tokens, ctx.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    ctx.cached_tokens = usage.cached_tokens
    ctx.cost_usd = _cost(config, ctx)


def _stream_error_event(ctx: RequestContext, message: str, dialect_stream: DialectStream | None) -> bytes:
    """The SPEC section 4 envelope as an SSE event: OpenAI SDKs raise it as an API error (a
    dialect's SDK too, in the dialect's envelope, from the dialect's stream)."""
    status = 500 if ctx.error_code == "internal_error" else 502
    code, reason = ctx.error_code or "upstream_error", ctx.error_reason or ctx.error_code or "upstream_error"
    if dialect_stream is not None:
        return dialect_stream.error_event(status, code, message, reason, ctx.id)
    body = error_body(status, code, message, ctx.error_reason, ctx.id)
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"X-Request-ID": ctx.id}
    if ctx.agent_id:
        headers["X-Agent-ID"] = ctx.agent_id
    headers.update(ctx.response_headers)
    return headers


def _cost(config: TenantConfig, ctx: RequestContext) -> float | None:
    """What the request cost in USD by the price rule of ``providers.pricing`` (the tenant's
    table, then the list price), or None when its model has no price: unpriced, never free.
    The price is looked up once per (provider kind, model) for the life of the snapshot."""
    if not (ctx.prompt_tokens or ctx.completion_tokens):
        return 0.0
    model = ctx.model_resolved or ctx.model_requested
    if not model:
        return None
    provider = config.providers.get(ctx.provider_id) if ctx.provider_id else None
    key = (provider.kind if provider is not None else None, model)
    try:
        price = config.model_prices[key]
    except KeyError:
        price = price_of(config.prices, key[0], model)
        if len(config.model_prices) < 1024:  # model names are routed ones, but stay bounded
            config.model_prices[key] = price
    if price is None:
        return None
    return price.cost(
        prompt_tokens=ctx.prompt_tokens, cached_tokens=ctx.cached_tokens, completion_tokens=ctx.completion_tokens
    )


async def _respond_error(ctx: RequestContext, send: Send, runtime: GatewayRuntime, error: GatewayError) -> None:
    ctx.status_code, ctx.error_code, ctx.error_reason = error.status, error.code, error.reason
    if ctx.credential is None and ctx.tenant_id is not None and not ctx.recorded:
        # Refused before any credential held: a client anyone could be, writing into this
        # tenant's log. Bounded per client address and app (proxy/unauthenticated_records.py).
        admitted = await runtime.unauthenticated_records.admit(
            tenant_id=ctx.tenant_id, client_ip=ctx.client_ip, app_ref=ctx.app_slug or ctx.app_id
        )
        ctx.recorded = not admitted
    await _record(ctx, runtime)
    headers = _headers(ctx)
    headers.update(error.headers)
    dialect = dialect_for(ctx.endpoint)
    if dialect is not None:
        body = dialect.error_body(error.status, error.code, error.message, error.reason, ctx.id)
    else:
        body = error_body(error.status, error.code, error.message, error.reason, ctx.id)
    with contextlib.suppress(OSError):
        await send_json(send, error.status, body, headers)


def record_of(ctx: RequestContext) -> dict[str, Any]:
    return {
        "id": ctx.id,
        "tenant_id": ctx.tenant_id,
        "created_at": datetime.fromtimestamp(ctx.started_wall, tz=UTC),
        "client_request_id": ctx.client_request_id,
        "app_id": ctx.app_id,
        "agent_id": ctx.agent_id,
        "key_id": ctx.key_id,
        "credential": ctx.credential,
        "user": ctx.user,
        "identity_source": ctx.identity_source,
        "conversation_id": ctx.conversation_id,
        "endpoint": ctx.endpoint,
        "model_requested": ctx.model_requested,
        "model_resolved": ctx.model_resolved,
        "provider_id": ctx.provider_id,
        "stream": ctx.stream,
        "status_code": ctx.status_code,
        "error_code": ctx.error_code,
        "error_reason": ctx.error_reason,
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": ctx.completion_tokens,
        "cost_usd": round(ctx.cost_usd, 8) if ctx.cost_usd is not None else None,
        "latency_ms": round(ctx.latency_ms(), 3),
        "upstream_latency_ms": round(ctx.upstream_latency_ms, 3) if ctx.upstream_latency_ms is not None else None,
        "client_ip": ctx.client_ip,
        "user_agent": (ctx.user_agent or "")[:512] or None,
        "policy_ids": ctx.policy_ids,
        "fail_open": ctx.fail_open,
        "request_body": ctx.request_body_capture,
        "response_body": ctx.response_body_capture,
    }


async def _finalize(ctx: RequestContext) -> None:
    for finalizer in ctx.finalizers:
        try:
            await finalizer(ctx)
        except Exception:
            logger.exception("finalizer failed (request %s)", ctx.id)
    ctx.finalizers.clear()


async def _record(ctx: RequestContext, runtime: GatewayRuntime) -> bool:
    """Exactly one record per request that can be attributed to a tenant; False when the
    record could not be committed, so that the caller does not answer as if all was well.

    Counter settlement (Redis) and the record's group commit (database) overlap: the record
    is queued first, and the writer's task sends it while the settlement waits for Redis. No
    task or ``gather`` of their own: the future of the record is awaited directly.
    """
    if ctx.tenant_id is None or ctx.recorded:
        await _finalize(ctx)
        return True
    ctx.recorded = True
    written = runtime.records.submit(record_of(ctx))
    request_count(ctx)
    if runtime.tracer is not None:
        runtime.tracer.request_span(ctx)
    await _finalize(ctx)
    try:
        await written
    except Exception as exc:
        logger.error("record of request %s was not written: %s", ctx.id, type(exc).__name__)
        return False
    return True


def record_unavailable() -> GatewayError:
    """No answer goes out without its record: past the writer's bounded wait, refuse."""
    return GatewayError(
        503, "unavailable", "the request could not be recorded; retry", "record_unavailable",
        headers={"Retry-After": "2"},
    )  # fmt: skip
