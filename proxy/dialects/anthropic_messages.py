"""Anthropic's Messages API on ``POST /v1/messages`` (SPEC 3.8), for clients built on
Anthropic's SDKs (Claude Code, the Claude Agent SDK).

To ``anthropic`` providers the body goes as it came (the routed model in place); to every
other kind it is translated through the chat form, and the OpenAI answer back into a
``message`` (or Anthropic's event stream). Field by field: ``docs/providers.md`` → Anthropic
Messages clients.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from core.errors import GatewayError, invalid_request
from proxy.adapters.base import StreamTranslator, UpstreamCall, Usage, estimate_tokens, stream_usage
from proxy.adapters.openai_like import MAX_REPORTED_TOKENS
from proxy.adapters.sse import SSEBuffer
from proxy.adapters.translation import as_int
from proxy.config_snapshot import ProviderEntry
from proxy.dialects.base import ChatFormStream
from proxy.guardrails import TextSlot, string_slot
from proxy.request_body import model_of

# Anthropic's error ``type`` per status; the SDK picks its exception class by the status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# OpenAI finish_reason → Anthropic stop_reason.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Top-level fields of SPEC 3.8 (the chat form carries them all).
FIELDS = frozenset(
    {"model", "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences", "metadata", "stream",
     "tools", "tool_choice"}
)  # fmt: skip
# Hints the chat form does without: the answer is the same with or without them.
DROPPED = frozenset({"cache_control", "service_tier"})
# Content blocks whose text the guardrails read; any other type is refused on every route,
# since its text would reach the model unchecked.
BLOCK_TYPES = frozenset({"text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"})
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def unsupported(name: str, why: str) -> GatewayError:
    return invalid_request(f"'{name}' is not supported on /v1/messages: {why}", "unsupported_parameter")


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """A content value as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid_request(f"{where} must be a string or a list of content blocks", "invalid_messages")
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid_request(f"{where}[{index}] must be an object with a 'type'", "invalid_messages")
        if block["type"] not in BLOCK_TYPES:
            raise unsupported(f"{where}[{index}].type", f"content blocks of type {block['type']!r} are not accepted")
    return content


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _object_slots(value: Any) -> Iterator[TextSlot]:
    """Every string inside a tool call's ``input`` (an object, not a JSON string as in chat)."""
    stack = [value]
    while stack:
        item = stack.pop()
        keys = item.keys() if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else ()
        for key in keys:
            if isinstance(item[key], str):
                yield item, key
            elif isinstance(item[key], dict | list):
                stack.append(item[key])


def _system_parts(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    parts = []
    for block in system:
        if block.get("type") != "text":
            raise unsupported("system", "only text blocks are accepted in 'system'")
        parts.append({"type": "text", "text": block.get("text") or ""})
    return parts


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid_request(f"{where}.source must be an object", "invalid_messages")
    if source.get("type") == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if media_type not in IMAGE_MEDIA_TYPES or not isinstance(data, str):
            raise invalid_request(
                f"{where}.source needs 'data' and a 'media_type' of {', '.join(IMAGE_MEDIA_TYPES)}", "invalid_messages"
            )
        return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise unsupported(f"{where}.source", "images are translated from 'base64' and 'url' sources only")


def _tool_result_text(block: dict[str, Any], where: str) -> str:
    content = block.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for index, part in enumerate(_blocks(content, f"{where}.content")):
        if part["type"] != "text":
            raise unsupported(f"{where}.content[{index}]", "tool results are translated as text only")
        texts.append(part.get("text") or "")
    return "\n".join(texts)


def _user_messages(content: Any, where: str) -> list[dict[str, Any]]:
    """One Anthropic user turn → chat messages: its tool results first, as ``tool`` messages
    (chat wants them right after the assistant's calls), then the rest as one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(_blocks(content, where)):
        at = f"{where}[{index}]"
        kind = block["type"]
        if kind == "tool_result":
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                raise invalid_request(f"{at}.tool_use_id is required", "invalid_messages")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": _tool_result_text(block, at)})
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text") or ""})
        elif kind == "image":
            parts.append(_image_part(block, at))
        else:
            raise unsupported(f"{at}.type", f"{kind!r} blocks are not accepted in a user turn")
    if parts:
        messages.append({"role": "user", "content": parts})
    return messages


def _assistant_message(content: Any, where: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(_blocks(content, where)):
        kind = block["type"]
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise invalid_request(f"{where}[{index}] needs an 'id' and a 'name'", "invalid_messages")
            arguments = orjson.dumps(block.get("input") if isinstance(block.get("input"), dict) else {}).decode()
            calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # the model's own reasoning: no chat form carries it back
        else:
            raise unsupported(f"{where}[{index}].type", f"{kind!r} blocks are not accepted in an assistant turn")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tools(tools: Any) -> list[dict[str, Any]]:
    translated = []
    for index, tool in enumerate(tools):
        if tool.get("type") not in (None, "custom"):
            raise unsupported(f"tools[{index}].type", f"server tools ({tool['type']!r}) need an anthropic provider")
        if not isinstance(tool.get("name"), str):
            raise invalid_request(f"tools[{index}].name is required")
        function: dict[str, Any] = {
            "name": tool["name"],
            "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
        }
        if tool.get("description"):
            function["description"] = tool["description"]
        translated.append({"type": "function", "function": function})
    return translated


def _tool_choice(choice: dict[str, Any]) -> tuple[Any, bool]:
    """(chat ``tool_choice``, whether parallel calls are turned off)."""
    kind = choice.get("type")
    parallel_off = bool(choice.get("disable_parallel_tool_use"))
    if kind == "auto":
        return "auto", parallel_off
    if kind == "any":
        return "required", parallel_off
    if kind == "none":
        return "none", False
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel_off
    raise invalid_request("'tool_choice.type' must be auto, any, tool (with a name) or none")


def _tokens_of(usage: Any) -> Usage:
    """Anthropic's ``input_tokens`` leaves out cache reads and writes; the record counts them."""
    usage = usage if isinstance(usage, dict) else {}
    prompt = sum(_count(usage, n) for n in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=_count(usage, "output_tokens"),
        reported=True,
        cached_tokens=_count(usage, "cache_read_input_tokens"),
    )


def _count(usage: dict[str, Any], name: str) -> int:
    """A reported count within [0, MAX_REPORTED_TOKENS]: a broken provider's numbers must not
    overflow the record's columns."""
    return min(max(as_int(usage.get(name)), 0), MAX_REPORTED_TOKENS)


def _usage_payload(usage: Usage, cached: int = 0) -> dict[str, Any]:
    payload = {"input_tokens": max(usage.prompt_tokens - cached, 0), "output_tokens": usage.completion_tokens}
    if cached:
        payload["cache_read_input_tokens"] = cached
    return payload


def event(name: str, payload: dict[str, Any]) -> bytes:
    """One named SSE event: the anthropic SDK skips events without a name."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


MESSAGE_STOP = event("message_stop", {"type": "message_stop"})
# A text delta event around its block index and its text (JSON-encoded), as ``event`` writes it.
TEXT_DELTA_HEAD = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":'
)
TEXT_DELTA_TAIL = b"}}\n\n"


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def error_payload(status: int, code: str, message: str, reason: str, request_id: str | None) -> dict[str, Any]:
    error_type = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {
        "type": "error",
        "error": {"type": error_type, "message": message, "code": code, "reason": reason, "request_id": request_id},
    }


class MessagesChatStream(ChatFormStream):
    """OpenAI chunks → Anthropic's events, in Anthropic's order: ``message_start``, then per
    block ``content_block_start``/``_delta``/``_stop``, then ``message_delta`` with the stop
    reason and usage; ``message_stop`` is :meth:`ending`'s."""

    def __init__(self, inner: StreamTranslator, model: str, request: dict[str, Any]) -> None:
        super().__init__(inner, model, request)
        self._started = False
        self._blocks = 0
        self._open: int | None = None  # index of the block being streamed
        self._open_kind: str | None = None
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool-call index → block index
        self._stop_reason = "end_turn"
        self._cached = 0

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message = {
            "id": new_message_id(), "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.inner.usage.prompt_tokens, "output_tokens": 0},
        }  # fmt: skip
        return [event("message_start", {"type": "message_start", "message": message})]

    def _block_stop(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, None
        return [event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _block_start(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        out = self._block_stop()
        self._open, self._open_kind = self._blocks, kind
        self._blocks += 1
        return [
            *out,
            event("content_block_start", {"type": "content_block_start", "index": self._open, "content_block": block}),
        ]

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _text_delta(self, index: int, text: str) -> bytes:
        """``_delta`` of a text, written without building its objects: one per chunk."""
        return TEXT_DELTA_HEAD % index + orjson.dumps(text) + TEXT_DELTA_TAIL

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        out = self._start()
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            details = usage.get("prompt_tokens_details")
            self._cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._open_kind != "text":
                    out += self._block_start("text", {"type": "text", "text": ""})
                out.append(self._text_delta(self._open, text))
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                tool_index = call.get("index", 0)
                if call.get("id") or tool_index not in self._tool_blocks:
                    block = {"type": "tool_use", "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                             "name": function.get("name") or "", "input": {}}  # fmt: skip
                    out += self._block_start("tool_use", block)
                    self._tool_blocks[tool_index] = self._open
                arguments = function.get("arguments")
                if isinstance(arguments, str) and arguments:
                    index = self._tool_blocks[tool_index]
                    out.append(self._delta(index, {"type": "input_json_delta", "partial_json": arguments}))
            if choice.get("finish_reason"):
                self._stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return out

    def failure(self, error: dict[str, Any]) -> list[bytes]:
        message = error.get("message") if isinstance(error.get("message"), str) else "the provider's stream failed"
        code, reason = error.get("code") or "upstream_error", error.get("reason") or "upstream_stream_error"
        return [self.error_event(502, code, message, reason, None)]

    def finish(self) -> list[bytes]:
        usage = _usage_payload(self.inner.usage, self._cached)
        delta = {"type": "message_delta", "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
                 "usage": usage}  # fmt: skip
        return [*self._start(), *self._block_stop(), event("message_delta", delta)]

    def error_event(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> bytes:
        return event("error", error_payload(status, code, message, reason, request_id))

    def ending(self, failed: bool) -> bytes:
        return b"" if failed else MESSAGE_STOP


class MessagesNativeStream:
    """An Anthropic stream passed through event by event; ``message_stop`` is held back for
    :meth:`ending`. Usage comes from ``message_start`` and ``message_delta``; a stream cut
    short counts at least the text relayed (``proxy.adapters.base.stream_usage``)."""

    def __init__(self, prompt_chars: int) -> None:
        self._events = SSEBuffer()
        self._text_chars = 0
        self.usage = Usage(prompt_tokens=estimate_tokens(prompt_chars))
        self.error: str | None = None
        self.complete = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for raw, payload in self._events.feed(data):
            if self._accept(raw, payload):
                out.append(raw)
        return [b"".join(out)] if out else []

    def close(self) -> list[bytes]:
        return self.feed(b"\n\n")

    def spent(self) -> Usage:
        return stream_usage(self.usage, self._text_chars, complete=self.complete and self.error is None)

    def error_event(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> bytes:
        return event("error", error_payload(status, code, message, reason, request_id))

    def ending(self, failed: bool) -> bytes:
        return b"" if failed else MESSAGE_STOP

    def _accept(self, raw: bytes, payload: bytes) -> bool:
        if self.complete or self.error is not None:
            return False
        if not payload:
            return False
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(data, dict):
            return False
        kind = data.get("type")
        if kind == "message_start":
            message = data.get("message") if isinstance(data.get("message"), dict) else {}
            reported = _tokens_of(message.get("usage"))
            self.usage = Usage(
                reported.prompt_tokens or self.usage.prompt_tokens,
                reported.completion_tokens,
                True,
                reported.cached_tokens,
            )
        elif kind == "content_block_delta":
            delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
            text = delta.get("text") or delta.get("partial_json") or delta.get("thinking")
            if isinstance(text, str):
                self._text_chars += len(text)
        elif kind == "message_delta":
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            if as_int(usage.get("input_tokens")):
                final = _tokens_of(usage)
                self.usage.prompt_tokens, self.usage.cached_tokens = final.prompt_tokens, final.cached_tokens
            self.usage.completion_tokens = _count(usage, "output_tokens") or self.usage.completion_tokens
        elif kind == "message_stop":
            self.complete = True
            return False  # the pipeline sends it once the record is committed
        elif kind == "error":
            error = data.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            self.error = message[:500] if isinstance(message, str) and message else "upstream error"
        return True


class MessagesDialect:
    endpoint = "messages"
    policy_endpoint = "chat"
    native_kinds = frozenset({"anthropic"})

    def body_check(self, body: dict[str, Any]) -> tuple[str, bool, int]:
        model = model_of(body)
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise invalid_request("'max_tokens' is required and must be a positive integer", "invalid_max_tokens")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid_request("'messages' must be a non-empty list", "invalid_messages")
        prompt_chars = 0
        system = body.get("system")
        if system is not None:
            prompt_chars += len(_text_of(_blocks(system, "system")))
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise invalid_request(
                    f"messages[{index}] must be an object with role user or assistant", "invalid_messages"
                )
            for block in _blocks(message.get("content"), f"messages[{index}].content"):
                prompt_chars += len(block["text"]) if isinstance(block.get("text"), str) else 0
                if block["type"] == "tool_result":
                    content = block.get("content")
                    prompt_chars += (
                        len(_text_of(_blocks(content, f"messages[{index}].content[].content"))) if content else 0
                    )
        for name, kind in (("tools", list), ("tool_choice", dict), ("metadata", dict), ("stop_sequences", list)):
            if body.get(name) is not None and not isinstance(body[name], kind):
                raise invalid_request(f"'{name}' must be a{'n object' if kind is dict else ' list'}")
        if any(not isinstance(tool, dict) for tool in body.get("tools") or ()):
            raise invalid_request("each of 'tools' must be an object")
        stream = body.get("stream", False)
        if stream is not None and not isinstance(stream, bool):
            raise invalid_request("'stream' must be a boolean")
        return model, bool(stream), prompt_chars

    def max_output_tokens(self, body: dict[str, Any]) -> int | None:
        return body.get("max_tokens")

    def text_slots(self, body: dict[str, Any]) -> Iterator[TextSlot]:
        """``system``, every text block (tool results' and thinking included), the strings
        inside tool calls' ``input``, and the tools' descriptions."""
        system = body.get("system")
        if isinstance(system, str):
            yield body, "system"
        elif isinstance(system, list):
            for block in system:
                yield from string_slot(block, "text", "a system block's 'text'")
        for message in body.get("messages") or ():
            content = message.get("content")
            if isinstance(content, str):
                yield message, "content"
                continue
            for block in content or ():
                yield from self._block_slots(block)
        for tool in body.get("tools") or ():
            yield from string_slot(tool, "description", "'tools[].description'")

    def _block_slots(self, block: dict[str, Any]) -> Iterator[TextSlot]:
        kind = block.get("type")
        if kind == "text":
            yield from string_slot(block, "text", "a text block's 'text'")
        elif kind == "thinking":
            yield from string_slot(block, "thinking", "a thinking block's 'thinking'")
        elif kind == "tool_use":
            if isinstance(block.get("input"), str):
                yield block, "input"
            yield from _object_slots(block.get("input"))
        elif kind == "tool_result":
            content = block.get("content")
            if isinstance(content, str):
                yield block, "content"
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict):
                        yield from self._block_slots(part)

    def chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        for name, value in body.items():
            if name not in FIELDS and name not in DROPPED and value is not None:
                if name == "thinking" and isinstance(value, dict) and value.get("type") == "disabled":
                    continue
                raise unsupported(name, "it has no equivalent in the chat form this provider is reached through")
        messages: list[dict[str, Any]] = []
        system = _system_parts(body["system"]) if body.get("system") else []
        if system:
            messages.append({"role": "system", "content": system})
        for index, message in enumerate(body["messages"]):
            where = f"messages[{index}].content"
            if message["role"] == "user":
                messages.extend(_user_messages(message.get("content"), where))
            else:
                messages.append(_assistant_message(message.get("content"), where))
        chat: dict[str, Any] = {"model": body["model"], "messages": messages, "max_tokens": body["max_tokens"]}
        for name in ("temperature", "top_p"):
            if body.get(name) is not None:
                chat[name] = body[name]
        if body.get("stop_sequences"):
            chat["stop"] = body["stop_sequences"]
        metadata = body.get("metadata") or {}
        for name in metadata:
            if name != "user_id":
                raise unsupported(f"metadata.{name}", "only 'metadata.user_id' is accepted")
        if isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
            chat["user"] = metadata["user_id"]
        if body.get("tools"):
            chat["tools"] = _tools(body["tools"])
        if body.get("tool_choice"):
            choice, parallel_off = _tool_choice(body["tool_choice"])
            if chat.get("tools"):
                chat["tool_choice"] = choice
                if parallel_off:
                    chat["parallel_tool_calls"] = False
        if body.get("stream"):
            chat["stream"] = True
        return chat

    def chat_answer(self, payload: dict[str, Any], model: str, body: dict[str, Any]) -> dict[str, Any]:
        # A Message repeats none of the request's settings: ``body`` is not needed.
        choice = (payload.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        content: list[dict[str, Any]] = []
        if isinstance(message.get("content"), str) and message["content"]:
            content.append({"type": "text", "text": message["content"]})
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            try:
                arguments = orjson.loads(function.get("arguments") or "{}")
            except orjson.JSONDecodeError:
                arguments = {}
            content.append({
                "type": "tool_use", "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function.get("name") or "", "input": arguments if isinstance(arguments, dict) else {},
            })  # fmt: skip
        usage = payload.get("usage") or {}
        details = usage.get("prompt_tokens_details")
        cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
        tokens = Usage(as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens")))
        return {
            "id": new_message_id(), "type": "message", "role": "assistant", "model": payload.get("model") or model,
            "content": content, "stop_reason": STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
            "stop_sequence": None, "usage": _usage_payload(tokens, cached),
        }  # fmt: skip

    def chat_stream(self, inner: StreamTranslator, model: str, body: dict[str, Any]) -> MessagesChatStream:
        return MessagesChatStream(inner, model, body)

    def native_request(self, adapter: Any, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        return UpstreamCall(
            "POST", f"{adapter.base_url(provider)}/v1/messages", adapter.headers(provider), {**body, "model": model}
        )

    def native_answer(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        if payload.get("type") != "message" or not isinstance(payload.get("content"), list):
            raise ValueError("not a message")
        return payload, _tokens_of(payload.get("usage"))

    def native_stream(self, model: str, prompt_chars: int) -> MessagesNativeStream:
        return MessagesNativeStream(prompt_chars)

    def error_body(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> dict[str, Any]:
        return error_payload(status, code, message, reason, request_id)
