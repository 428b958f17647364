"""The ``anthropic`` kind: Anthropic's Messages API (``POST {base}/v1/messages``) behind the OpenAI format.

Authentication is ``x-api-key`` plus ``anthropic-version`` (the provider's ``api_version``, else
:data:`ANTHROPIC_VERSION`). The Messages API requires ``max_tokens``: without ``max_tokens`` or
``max_completion_tokens`` from the client, :data:`DEFAULT_MAX_TOKENS` is sent. Field by field
behaviour is in ``docs/providers.md``.
"""

from __future__ import annotations

from typing import Any

from proxy.adapters import translation as t
from proxy.adapters.base import HostRootAdapter, UpstreamCall, Usage
from proxy.config_snapshot import ProviderEntry

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
# Anthropic's Messages API has no JSON mode without a schema: ``json_object`` becomes this
# instruction appended to the system prompt (a schema is translated to ``output_config``).
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

REFUSED = {
    **t.REFUSED_EVERYWHERE,
    "n": "the Messages API returns one choice per request",
    "frequency_penalty": "the Messages API has no frequency penalty",
    "presence_penalty": "the Messages API has no presence penalty",
}

PDF_TYPES = ("application/pdf",)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _block_of(part: t.ContentPart, where: str) -> dict[str, Any]:
    if isinstance(part, t.TextPart):
        return {"type": "text", "text": part.text}
    if part.kind == "image":
        if part.url is not None:
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        if part.media_type not in IMAGE_TYPES:
            raise t.unsupported("anthropic", where, f"images must be one of {', '.join(IMAGE_TYPES)}")
        return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": part.data}}
    if part.kind == "file" and part.media_type in PDF_TYPES:
        return {"type": "document", "source": {"type": "base64", "media_type": part.media_type, "data": part.data}}
    raise t.unsupported("anthropic", where, f"{part.kind} parts of type {part.media_type} are not translated")


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Consecutive turns of one role become one message: all tool results of a parallel
    call must reach Anthropic in the single user turn that follows the assistant's calls."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def messages_translate(openai_messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """OpenAI messages → (system texts, Anthropic messages).

    System and developer messages are hoisted into the top-level ``system``, wherever they stand.
    """
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(openai_messages):
        where = f"messages[{index}]"
        role = message["role"]
        parts = t.content_parts(message.get("content"), where)
        if role in ("system", "developer"):
            text = t.text_only(parts, where, "anthropic")
            if text:
                system.append(text)
        elif role == "user":
            _append(messages, "user", [_block_of(p, f"{where}.content") for p in parts])
        elif role == "assistant":
            blocks = [_block_of(p, f"{where}.content") for p in parts if isinstance(p, t.TextPart)]
            blocks += [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in t.tool_calls_of(message, where)
            ]
            _append(messages, "assistant", blocks)
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": t.tool_call_id_of(message, where),
                "content": t.text_only(parts, where, "anthropic"),
            }
            _append(messages, "user", [result])
        else:
            raise t.unsupported("anthropic", f"{where}.role", f"role {role!r} is not translated")
    return system, messages


def _tool_choice(choice: t.ToolChoice | None, tools: list[t.FunctionTool], parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        translated: dict[str, Any] | None = {"type": "auto"} if tools and parallel is False else None
    elif choice.mode == "required":
        translated = {"type": "any"}
    elif choice.mode == "function":
        translated = {"type": "tool", "name": choice.name}
    else:
        translated = {"type": choice.mode}
    if translated is not None and parallel is False and translated["type"] != "none":
        translated["disable_parallel_tool_use"] = True
    return translated


def _tokens(usage: Any) -> t.TokenCounts:
    """Anthropic's ``input_tokens`` leaves out cache reads and writes; OpenAI's prompt counts them."""
    usage = usage if isinstance(usage, dict) else {}
    cached = t.as_int(usage.get("cache_read_input_tokens"))
    prompt = t.as_int(usage.get("input_tokens")) + cached + t.as_int(usage.get("cache_creation_input_tokens"))
    return t.TokenCounts(prompt=prompt, completion=t.as_int(usage.get("output_tokens")), cached=cached)


class AnthropicStream(t.ChunkStream):
    """Anthropic stream events → OpenAI chunks.

    ``message_start`` carries the prompt usage, ``content_block_*`` the text and the tool calls
    (``input_json_delta`` holds argument fragments), ``message_delta`` the stop reason and the
    output usage, ``message_stop`` the end; ``error`` is a provider failure mid-stream.
    """

    kind = "anthropic"

    def __init__(self, model: str, prompt_chars: int) -> None:
        super().__init__(model, prompt_chars)
        self._tool_index_by_block: dict[int, int] = {}
        self._counts = t.TokenCounts()

    def event(self, event_type: str | None, data: dict[str, Any]) -> list[bytes]:
        kind = data.get("type") or event_type
        if kind == "message_start":
            message = data.get("message") or {}
            self.completion_id = t.new_completion_id(message.get("id"))
            self._counts = _tokens(message.get("usage"))
            self.report(self._counts)
            return self.open()
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                tool_index = len(self._tool_index_by_block)
                self._tool_index_by_block[data.get("index", tool_index)] = tool_index
                return self.tool_call_start(tool_index, block.get("id") or t.new_tool_call_id(), block.get("name", ""))
            if block.get("type") == "text":
                return self.text(block.get("text") or "")
            return []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return self.text(delta.get("text") or "")
            if delta.get("type") == "input_json_delta":
                tool_index = self._tool_index_by_block.get(data.get("index"))
                if tool_index is not None:
                    return self.tool_call_arguments(tool_index, delta.get("partial_json") or "")
            return []
        if kind == "message_delta":
            usage = data.get("usage") or {}
            # Output tokens are cumulative; newer API versions repeat the input counts here.
            if t.as_int(usage.get("input_tokens")):
                self._counts = _tokens(usage)
            else:
                self._counts.completion = t.as_int(usage.get("output_tokens")) or self._counts.completion
            self.report(self._counts)
            reason = (data.get("delta") or {}).get("stop_reason")
            return self.finish(STOP_REASONS.get(reason, "stop")) if reason else []
        if kind == "message_stop":
            self.finished = True
            return []
        if kind == "error":
            error = data.get("error") or {}
            return self.fail(error.get("message") if isinstance(error, dict) else str(error))
        return []


class AnthropicAdapter(HostRootAdapter):
    kind = "anthropic"

    def headers(self, provider: ProviderEntry) -> dict[str, str]:
        headers = {
            **provider.extra_headers,
            "anthropic-version": provider.api_version or ANTHROPIC_VERSION,
            "Content-Type": "application/json",
        }
        if provider.api_key:
            headers["x-api-key"] = provider.api_key
        return headers

    def chat_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        t.fields_refuse(body, self.kind, REFUSED)
        system, messages = messages_translate(body["messages"])
        upstream: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": t.max_output_tokens(body) or DEFAULT_MAX_TOKENS,
        }
        response_format = t.response_format_of(body)
        if response_format is not None and response_format.type == "json_object":
            system.append(JSON_OBJECT_INSTRUCTION)
        elif response_format is not None and response_format.type == "json_schema":
            upstream["output_config"] = {"format": {"type": "json_schema", "schema": response_format.schema}}
        if system:
            upstream["system"] = "\n\n".join(system)
        for name in ("temperature", "top_p"):
            if body.get(name) is not None:
                upstream[name] = body[name]
        stop = t.stop_sequences(body)
        if stop:
            upstream["stop_sequences"] = stop
        end_user = t.end_user_of(body)
        if end_user:
            upstream["metadata"] = {"user_id": end_user}
        tools = t.function_tools(body, self.kind)
        if tools:
            upstream["tools"] = [self._tool(tool) for tool in tools]
        tool_choice = _tool_choice(t.tool_choice_of(body, tools, self.kind), tools, body.get("parallel_tool_calls"))
        if tool_choice is not None and tools:
            upstream["tool_choice"] = tool_choice
        if body.get("stream"):
            upstream["stream"] = True
        return UpstreamCall("POST", f"{self.base_url(provider)}/v1/messages", self.headers(provider), upstream)

    @staticmethod
    def _tool(tool: t.FunctionTool) -> dict[str, Any]:
        translated: dict[str, Any] = {"name": tool.name, "input_schema": tool.parameters}
        if tool.description:
            translated["description"] = tool.description
        if tool.strict is not None:
            translated["strict"] = tool.strict
        return translated

    def chat_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        choice = t.Choice(finish_reason=STOP_REASONS.get(payload.get("stop_reason"), "stop"))
        texts = []
        for block in payload.get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(block.get("text") or "")
            elif block.get("type") == "tool_use":
                call_id = block.get("id") or t.new_tool_call_id()
                choice.tool_calls.append((call_id, block.get("name", ""), t.arguments_json(block.get("input"))))
        choice.text = "".join(texts)
        return t.completion_payload(
            completion_id=t.new_completion_id(payload.get("id")),
            model=model,
            choices=[choice],
            tokens=_tokens(payload.get("usage")),
        )

    def stream_translator(self, model: str, prompt_chars: int) -> AnthropicStream:
        return AnthropicStream(model, prompt_chars)

    def embeddings_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        raise t.unsupported(self.kind, "model", "Anthropic has no embeddings API; route embeddings elsewhere")

    def embeddings_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        raise t.unsupported(self.kind, "model", "Anthropic has no embeddings API")

    def error_message(self, status: int, body: bytes) -> str:
        return t.provider_error_message(body)
