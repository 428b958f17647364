"""The ``cohere`` kind: Cohere's v2 API (``POST {base}/v2/chat``, ``POST {base}/v2/embed``) behind
the OpenAI format, with a Bearer key.

Cohere's ``tool_plan`` (the text a model writes before calling tools) is the OpenAI assistant
``content`` that accompanies ``tool_calls``, in both directions. Field by field behaviour is
in ``docs/providers.md``.
"""

from __future__ import annotations

from typing import Any

from core.errors import GatewayError
from proxy.adapters import translation as t
from proxy.adapters.base import HostRootAdapter, UpstreamCall, Usage
from proxy.config_snapshot import ProviderEntry

# Embed v3 and later require an input type; OpenAI has none. Documents are what is embedded
# most; a client can send Cohere's own ``input_type`` in the body (the SDK's ``extra_body``).
DEFAULT_EMBED_INPUT_TYPE = "search_document"
EMBED_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
# Cohere's way of saying the generation failed; there is no OpenAI finish reason for that.
FAILED_REASONS = ("ERROR", "TIMEOUT")

REFUSED = {**t.REFUSED_EVERYWHERE, "n": "Cohere returns one choice per request"}


def _content_of(parts: list[t.ContentPart], where: str) -> str | list[dict[str, Any]]:
    """Plain text stays a string; parts with images become Cohere's part array."""
    if all(isinstance(p, t.TextPart) for p in parts):
        return "\n".join(p.text for p in parts if isinstance(p, t.TextPart))
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, t.TextPart):
            content.append({"type": "text", "text": part.text})
        elif part.kind == "image":
            url = part.url or f"data:{part.media_type};base64,{part.data}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        else:
            raise t.unsupported("cohere", f"{where}.content", f"{part.kind} parts are not translated")
    return content


def messages_translate(openai_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI messages → Cohere v2 messages (system messages stay in place, as Cohere allows)."""
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(openai_messages):
        where = f"messages[{index}]"
        role = message["role"]
        parts = t.content_parts(message.get("content"), where)
        if role in ("system", "developer"):
            messages.append({"role": "system", "content": t.text_only(parts, where, "cohere")})
        elif role == "user":
            messages.append({"role": "user", "content": _content_of(parts, where)})
        elif role == "assistant":
            text = t.text_only([p for p in parts if isinstance(p, t.TextPart)], where, "cohere")
            calls = t.tool_calls_of(message, where)
            translated: dict[str, Any] = {"role": "assistant"}
            if calls:
                translated["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                    for c in calls
                ]
                if text:
                    translated["tool_plan"] = text
            else:
                translated["content"] = text
            messages.append(translated)
        elif role == "tool":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": t.tool_call_id_of(message, where),
                    "content": t.text_only(parts, where, "cohere"),
                }
            )
        else:
            raise t.unsupported("cohere", f"{where}.role", f"role {role!r} is not translated")
    return messages


def _tokens(usage: Any) -> t.TokenCounts:
    """``tokens`` are what the model saw; ``billed_units`` only when ``tokens`` is missing."""
    usage = usage if isinstance(usage, dict) else {}
    counts = usage.get("tokens") or usage.get("billed_units") or {}
    cached = usage.get("cached_tokens")
    return t.TokenCounts(
        prompt=t.as_int(counts.get("input_tokens")),
        completion=t.as_int(counts.get("output_tokens")),
        cached=t.as_int(cached) if cached is not None else None,
    )


class CohereStream(t.ChunkStream):
    """Cohere v2 events → OpenAI chunks: ``content-delta`` text, ``tool-plan-delta`` text before
    tool calls, ``tool-call-start``/``tool-call-delta`` calls and argument fragments,
    ``message-end`` the finish reason and usage (or the error of a failed generation)."""

    kind = "cohere"

    def __init__(self, model: str, prompt_chars: int) -> None:
        super().__init__(model, prompt_chars)
        self._tool_indexes: dict[int, int] = {}

    def event(self, event_type: str | None, data: dict[str, Any]) -> list[bytes]:
        kind = data.get("type") or event_type
        message = ((data.get("delta") or {}).get("message")) or {}
        if kind == "message-start":
            self.completion_id = t.new_completion_id(data.get("id"))
            return self.open()
        if kind in ("content-start", "content-delta"):
            return self.text((message.get("content") or {}).get("text") or "")
        if kind == "tool-plan-delta":
            return self.text(message.get("tool_plan") or "")
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            tool_index = len(self._tool_indexes)
            self._tool_indexes[data.get("index", tool_index)] = tool_index
            return self.tool_call_start(
                tool_index,
                call.get("id") or t.new_tool_call_id(),
                function.get("name", ""),
                function.get("arguments") or "",
            )
        if kind == "tool-call-delta":
            tool_index = self._tool_indexes.get(data.get("index", len(self._tool_indexes) - 1))
            arguments = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments") or ""
            return self.tool_call_arguments(tool_index, arguments) if tool_index is not None else []
        if kind == "message-end":
            delta = data.get("delta") or {}
            if delta.get("usage"):
                self.report(_tokens(delta["usage"]))
            reason = delta.get("finish_reason")
            if delta.get("error") or reason in FAILED_REASONS:
                return self.fail(delta.get("error") or f"the generation ended with {reason}")
            self.finished = True
            return self.finish(FINISH_REASONS.get(reason, "stop"))
        if kind == "error" or (not kind and "error" in data):
            error = data.get("error") or data.get("message") or ""
            return self.fail(error.get("message", "") if isinstance(error, dict) else str(error))
        return []


class CohereAdapter(HostRootAdapter):
    kind = "cohere"

    def headers(self, provider: ProviderEntry) -> dict[str, str]:
        headers = {**provider.extra_headers, "Content-Type": "application/json"}
        if provider.api_key:
            headers["Authorization"] = f"Bearer {provider.api_key}"
        return headers

    def chat_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        t.fields_refuse(body, self.kind, REFUSED)
        upstream: dict[str, Any] = {"model": model, "messages": messages_translate(body["messages"])}
        for openai_name, cohere_name in (
            ("temperature", "temperature"),
            ("top_p", "p"),
            ("seed", "seed"),
            ("frequency_penalty", "frequency_penalty"),
            ("presence_penalty", "presence_penalty"),
        ):
            if body.get(openai_name) is not None:
                upstream[cohere_name] = body[openai_name]
        max_tokens = t.max_output_tokens(body)
        if max_tokens is not None:
            upstream["max_tokens"] = max_tokens
        stop = t.stop_sequences(body)
        if stop:
            upstream["stop_sequences"] = stop
        response_format = t.response_format_of(body)
        if response_format is not None and response_format.type != "text":
            upstream["response_format"] = {"type": "json_object"}
            if response_format.schema is not None:
                upstream["response_format"]["json_schema"] = response_format.schema
        tools = t.function_tools(body, self.kind)
        choice = t.tool_choice_of(body, tools, self.kind)
        if choice is not None and choice.mode == "function":
            # Cohere can force "some tool" but not a named one: only that tool is offered.
            tools = [tool for tool in tools if tool.name == choice.name]
        if tools:
            upstream["tools"] = [self._tool(tool) for tool in tools]
            if any(tool.strict for tool in tools):
                upstream["strict_tools"] = True
        if choice is not None and tools and choice.mode != "auto":
            upstream["tool_choice"] = "NONE" if choice.mode == "none" else "REQUIRED"
        if body.get("stream"):
            upstream["stream"] = True
        return UpstreamCall("POST", f"{self.base_url(provider)}/v2/chat", self.headers(provider), upstream)

    @staticmethod
    def _tool(tool: t.FunctionTool) -> dict[str, Any]:
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
        if tool.description:
            function["description"] = tool.description
        return {"type": "function", "function": function}

    def chat_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        reason = payload.get("finish_reason")
        if reason in FAILED_REASONS:
            raise GatewayError(502, "upstream_error", f"the provider ended the generation with {reason}")
        message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
        choice = t.Choice(finish_reason=FINISH_REASONS.get(reason, "stop"))
        choice.text = "".join(
            item.get("text") or ""
            for item in message.get("content") or ()
            if isinstance(item, dict) and item.get("type") == "text"
        )
        for call in message.get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            function = call.get("function") or {}
            choice.tool_calls.append(
                (call.get("id") or t.new_tool_call_id(), function.get("name", ""), function.get("arguments") or "{}")
            )
        if choice.tool_calls and not choice.text:
            choice.text = message.get("tool_plan") or ""
        return t.completion_payload(
            completion_id=t.new_completion_id(payload.get("id")),
            model=model,
            choices=[choice],
            tokens=_tokens(payload.get("usage")),
        )

    def stream_translator(self, model: str, prompt_chars: int) -> CohereStream:
        return CohereStream(model, prompt_chars)

    def embeddings_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        input_type = body.get("input_type", DEFAULT_EMBED_INPUT_TYPE)
        if input_type not in EMBED_INPUT_TYPES:
            raise t.unsupported(self.kind, "input_type", f"it must be one of {', '.join(EMBED_INPUT_TYPES)}")
        upstream: dict[str, Any] = {
            "model": model,
            "texts": t.embeddings_inputs(body, self.kind),
            "input_type": input_type,
            "embedding_types": ["float"],
        }
        dimensions = t.embeddings_dimensions(body)
        if dimensions is not None:
            upstream["output_dimension"] = dimensions
        return UpstreamCall("POST", f"{self.base_url(provider)}/v2/embed", self.headers(provider), upstream)

    def embeddings_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        embeddings = payload.get("embeddings")
        # embeddings_by_type: {"float": [[...]]}; the older embeddings_floats: [[...]].
        vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
        meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
        return t.embeddings_payload(list(vectors or ()), model, _tokens(meta).prompt)

    def error_message(self, status: int, body: bytes) -> str:
        return t.provider_error_message(body)
