"""OpenTelemetry traces of proxied requests, by the GenAI semantic conventions, when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; nothing at all when it is not.

One span per request, written where its record is finalised (``proxy/pipeline._record``) from
the same fields: its start is the request's arrival, its end the record. The OpenTelemetry
packages are an optional extra (``pip install aidgate[otel]``) and are imported only by
:func:`tracer_from_settings` when the endpoint is set, so a gateway without traces neither
loads them nor pays a call per request (``docs/decisions.md`` → Operations: the one import
inside a function besides ``AppConfig.ready()``).

The exporter is OTLP over HTTP (protobuf), configured by the SDK's own environment
variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_SERVICE_NAME``, ``OTEL_BSP_*``); spans leave in batches from the SDK's own thread.
No span holds a prompt, an answer, a header or a key: ids, model names, counts and outcome.
"""

from __future__ import annotations

import os
import time
from typing import Any

from proxy.request_context import RequestContext

# SPEC's endpoints → gen_ai.operation.name; the dialects are chat completions in other forms.
OPERATIONS = {"chat": "chat", "messages": "chat", "responses": "chat", "embeddings": "embeddings"}
# Provider kinds → gen_ai.provider.name (and the older gen_ai.system), the conventions' names
# where they have one.
GEN_AI_PROVIDERS = {
    "openai": "openai",
    "openai_compatible": "openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "cohere": "cohere",
    "mistral": "mistral_ai",
}


def span_attributes(ctx: RequestContext) -> dict[str, Any]:
    """The span's attributes: GenAI conventions first, then the gateway's own ids."""
    operation = OPERATIONS.get(ctx.endpoint, ctx.endpoint)
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation, "http.response.status_code": ctx.status_code}
    if ctx.provider_kind is not None:
        provider = GEN_AI_PROVIDERS.get(ctx.provider_kind, ctx.provider_kind)
        attributes["gen_ai.provider.name"] = provider
        attributes["gen_ai.system"] = provider
    if ctx.model_requested:
        attributes["gen_ai.request.model"] = ctx.model_requested
    if ctx.model_resolved:
        attributes["gen_ai.response.model"] = ctx.model_resolved
    if ctx.prompt_tokens or ctx.completion_tokens:
        attributes["gen_ai.usage.input_tokens"] = ctx.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = ctx.completion_tokens
    if ctx.conversation_id:
        attributes["gen_ai.conversation.id"] = ctx.conversation_id
    if ctx.error_code:
        attributes["error.type"] = ctx.error_code
    for name, value in (
        ("aidgate.request_id", ctx.id),
        ("aidgate.tenant_id", ctx.tenant_id),
        ("aidgate.app_id", ctx.app_id),
        ("aidgate.agent_id", ctx.agent_id),
        ("aidgate.provider_id", ctx.provider_id),
        ("aidgate.error_reason", ctx.error_reason),
    ):
        if value is not None:
            attributes[name] = value
    attributes["aidgate.stream"] = ctx.stream
    if ctx.cost_usd:
        attributes["aidgate.cost_usd"] = ctx.cost_usd
    return attributes


class RequestTracer:
    """Writes one finished request as a span; built only when traces are on."""

    def __init__(self, provider: Any, kind: Any, error_status: Any) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("aidgate")
        self._kind = kind
        self._error_status = error_status

    def request_span(self, ctx: RequestContext) -> None:
        attributes = span_attributes(ctx)
        model = attributes.get("gen_ai.request.model")
        name = f"{attributes['gen_ai.operation.name']} {model}" if model else attributes["gen_ai.operation.name"]
        start = int(ctx.started_wall * 1e9)
        end = start + int((time.perf_counter() - ctx.started) * 1e9)
        span = self._tracer.start_span(name, kind=self._kind, attributes=attributes, start_time=start)
        if ctx.error_code:
            span.set_status(self._error_status)
        span.end(end_time=end)

    def shutdown(self) -> None:
        """Send what is still batched (blocking, bounded by the exporter's timeout)."""
        self._provider.shutdown()


def tracer_from_settings(endpoint: str) -> RequestTracer | None:
    """The tracer of this process, or None (nothing imported) without an endpoint."""
    if not endpoint:
        return None
    # Only here, and only with an endpoint set: a gateway without traces never loads them.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    # OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) wins over the default.
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": "aidgate"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # The gateway is the client of the model's provider: an inference span is a CLIENT span.
    return RequestTracer(provider, SpanKind.CLIENT, Status(StatusCode.ERROR))
