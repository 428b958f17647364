"""The OpenAI side of the translating kinds (``anthropic``, ``gemini``, ``cohere``).

Each provider module owns its own wire format; this module owns the OpenAI format on both
ends: it reads a chat request into neutral pieces (content parts, tools, tool calls, tool
results) and writes OpenAI completions, stream chunks and embeddings lists. Keeping that
here means the three kinds refuse the same inputs with the same messages and produce exactly
the same OpenAI shapes. Which OpenAI field each kind translates, approximates or refuses is
listed in ``docs/providers.md``.
"""

from __future__ import annotations

import mimetypes
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from core.errors import GatewayError, invalid_request
from proxy.adapters.base import Usage, estimate_tokens, stream_usage
from proxy.adapters.openai_like import upstream_error_message
from proxy.adapters.sse import SSEBuffer, sse_encode

# Refused by every translating kind: none of them has an equivalent, and dropping them would
# silently change what the client gets back.
REFUSED_EVERYWHERE: dict[str, str] = {
    "logit_bias": "it has no token-level equivalent",
    "logprobs": "log probabilities are not translated",
    "top_logprobs": "log probabilities are not translated",
    "audio": "audio output is not translated",
    "modalities": "only text output is translated",
    "functions": "the deprecated 'functions' API is not translated; use 'tools'",
    "function_call": "the deprecated 'functions' API is not translated; use 'tool_choice'",
    "web_search_options": "web search is an OpenAI-hosted tool",
    "moderation": "moderation is an OpenAI-hosted feature",
    "reasoning_effort": "reasoning settings are model-specific and not translated",
    "verbosity": "it is an OpenAI model setting with no equivalent",
}

# Values that mean "the default" and so are accepted even for a refused field.
_NEUTRAL: dict[str, Any] = {"n": 1, "modalities": ["text"]}

DEFAULT_TOOL_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def unsupported(kind: str, name: str, why: str) -> GatewayError:
    """A 400 for an OpenAI field or value that ``kind`` cannot honour."""
    return invalid_request(f"'{name}' is not supported by {kind} providers: {why}", "unsupported_parameter")


def field_set(body: Mapping[str, Any], name: str) -> bool:
    """Whether the client asked for something with ``name``, rather than sending its default."""
    value = body.get(name)
    if value is None or (name in _NEUTRAL and value == _NEUTRAL[name]):
        return False
    return value not in (False, 0, "", [], {})


def fields_refuse(body: Mapping[str, Any], kind: str, refused: Mapping[str, str]) -> None:
    for name, why in refused.items():
        if field_set(body, name):
            raise unsupported(kind, name, why)


# --- reading OpenAI requests -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class MediaPart:
    """An image, audio clip or file from a content-part array: inline base64 or a remote URL."""

    kind: str  # "image" | "audio" | "file"
    media_type: str
    data: str | None = None
    url: str | None = None


ContentPart = TextPart | MediaPart


def data_url_parse(url: str) -> tuple[str, str] | None:
    """``data:<type>;base64,<data>`` → ``(type, data)``; ``None`` for anything else."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    media_type = header[: -len(";base64")].split(";")[0].strip().lower()
    return media_type or "application/octet-stream", data


def media_type_guess(url: str, default: str) -> str:
    """A remote file's MIME type from its path's extension, for providers that require one."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or default


def _image_part(part: dict[str, Any], where: str) -> MediaPart:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise invalid_request(f"{where}.image_url.url must be a data URL or an https URL", "invalid_messages")
    inline = data_url_parse(url)
    if inline is not None:
        if not inline[0].startswith("image/"):
            raise invalid_request(f"{where}.image_url must hold an image, not {inline[0]}", "invalid_messages")
        return MediaPart("image", inline[0], data=inline[1])
    if urlsplit(url).scheme not in ("https", "http"):
        raise invalid_request(f"{where}.image_url.url must be a base64 data URL or an https URL", "invalid_messages")
    return MediaPart("image", media_type_guess(url, ""), url=url)


def _audio_part(part: dict[str, Any], where: str) -> MediaPart:
    audio = part.get("input_audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
        raise invalid_request(f"{where}.input_audio must have base64 'data'", "invalid_messages")
    audio_format = audio.get("format") if isinstance(audio.get("format"), str) else "wav"
    return MediaPart("audio", f"audio/{'mpeg' if audio_format == 'mp3' else audio_format}", data=audio["data"])


def _file_part(part: dict[str, Any], where: str) -> MediaPart:
    file = part.get("file")
    if not isinstance(file, dict):
        raise invalid_request(f"{where}.file must be an object", "invalid_messages")
    file_data = file.get("file_data")
    if not isinstance(file_data, str) or not file_data:
        raise invalid_request(f"{where}.file needs inline 'file_data'; uploaded file ids are OpenAI's own")
    inline = data_url_parse(file_data)
    if inline is not None:
        return MediaPart("file", inline[0], data=inline[1])
    filename = file.get("filename") if isinstance(file.get("filename"), str) else ""
    return MediaPart("file", media_type_guess(filename, "application/pdf"), data=file_data)


def content_parts(content: Any, where: str) -> list[ContentPart]:
    """A message's content (string or part array) as parts; empty text is left out."""
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    if not isinstance(content, list):
        raise invalid_request(f"{where}.content must be a string or a list of parts", "invalid_messages")
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        if not isinstance(part, dict):
            raise invalid_request(f"{at} must be an object", "invalid_messages")
        part_type = part.get("type")
        if part_type in ("text", "refusal"):
            text = part.get(part_type)
            if not isinstance(text, str):
                raise invalid_request(f"{at}.{part_type} must be a string", "invalid_messages")
            if text:
                parts.append(TextPart(text))
        elif part_type == "image_url":
            parts.append(_image_part(part, at))
        elif part_type == "input_audio":
            parts.append(_audio_part(part, at))
        elif part_type == "file":
            parts.append(_file_part(part, at))
        else:
            raise invalid_request(f"{at}.type {part_type!r} is not supported", "invalid_messages")
    return parts


def text_only(parts: list[ContentPart], where: str, kind: str) -> str:
    """The text of parts that may only be text (system prompts, tool results)."""
    if any(isinstance(p, MediaPart) for p in parts):
        raise unsupported(kind, f"{where}.content", "only text parts are accepted here")
    return "\n".join(p.text for p in parts if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class FunctionTool:
    name: str
    description: str | None
    parameters: dict[str, Any]
    strict: bool | None


def function_tools(body: Mapping[str, Any], kind: str) -> list[FunctionTool]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise invalid_request("'tools' must be a list")
    result = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise unsupported(kind, f"tools[{index}]", "only tools of type 'function' are translated")
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise invalid_request(f"tools[{index}].function must have a 'name'")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid_request(f"tools[{index}].function.parameters must be a JSON schema object")
        description = function.get("description")
        strict = function.get("strict")
        result.append(
            FunctionTool(
                name=function["name"],
                description=description if isinstance(description, str) and description else None,
                parameters=parameters or dict(DEFAULT_TOOL_PARAMETERS),
                strict=strict if isinstance(strict, bool) else None,
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: str  # "auto" | "none" | "required" | "function"
    name: str | None = None


def tool_choice_of(body: Mapping[str, Any], tools: list[FunctionTool], kind: str) -> ToolChoice | None:
    value = body.get("tool_choice")
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        choice = ToolChoice(value)
    elif isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or name not in {t.name for t in tools}:
            raise invalid_request("tool_choice names a function that is not in 'tools'")
        choice = ToolChoice("function", name)
    else:
        raise unsupported(kind, "tool_choice", "only 'auto', 'none', 'required' or one named function are translated")
    if choice.mode in ("required", "function") and not tools:
        raise invalid_request(f"tool_choice {choice.mode!r} needs 'tools'")
    return choice


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call from an assistant message of the history."""

    id: str
    name: str
    arguments: dict[str, Any]
    arguments_json: str


def tool_calls_of(message: Mapping[str, Any], where: str) -> list[ToolCall]:
    calls = message.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise invalid_request(f"{where}.tool_calls must be a list", "invalid_messages")
    result = []
    for index, call in enumerate(calls):
        at = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise invalid_request(f"{at} must have a function with a 'name'", "invalid_messages")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise invalid_request(f"{at} must have an 'id'", "invalid_messages")
        raw = function.get("arguments") or "{}"
        if not isinstance(raw, str):
            raise invalid_request(f"{at}.function.arguments must be a JSON string", "invalid_messages")
        try:
            arguments = orjson.loads(raw)
        except orjson.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            raise invalid_request(f"{at}.function.arguments must be a JSON object in a string", "invalid_messages")
        result.append(ToolCall(call["id"], function["name"], arguments, raw))
    return result


def tool_call_id_of(message: Mapping[str, Any], where: str) -> str:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid_request(f"{where} (role 'tool') must have a 'tool_call_id'", "invalid_messages")
    return call_id


def max_output_tokens(body: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens``, the current name, wins over the older ``max_tokens``."""
    value = body.get("max_completion_tokens")
    return value if value is not None else body.get("max_tokens")


def stop_sequences(body: Mapping[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop) or None
    raise invalid_request("'stop' must be a string or a list of strings")


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: str  # "text" | "json_object" | "json_schema"
    schema: dict[str, Any] | None = None
    name: str | None = None


def response_format_of(body: Mapping[str, Any]) -> ResponseFormat | None:
    value = body.get("response_format")
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("text", "json_object", "json_schema"):
        raise invalid_request("'response_format.type' must be 'text', 'json_object' or 'json_schema'")
    if value["type"] != "json_schema":
        return ResponseFormat(value["type"])
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
        raise invalid_request("'response_format.json_schema.schema' must be a JSON schema object")
    return ResponseFormat("json_schema", spec.get("schema") or {"type": "object"}, spec.get("name"))


def end_user_of(body: Mapping[str, Any]) -> str | None:
    """The client's end-user id for abuse monitoring: ``safety_identifier``, else ``user``."""
    for name in ("safety_identifier", "user"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def tool_names_by_call_id(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Tool call id → function name, for providers whose tool results name the function."""
    names: dict[str, str] = {}
    for index, message in enumerate(messages):
        if message.get("role") == "assistant":
            for call in tool_calls_of(message, f"messages[{index}]"):
                names[call.id] = call.name
    return names


# --- writing OpenAI responses ------------------------------------------------------------


def new_completion_id(upstream_id: Any = None) -> str:
    suffix = upstream_id if isinstance(upstream_id, str) and upstream_id else uuid.uuid4().hex
    return f"chatcmpl-{suffix}"


def new_tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def as_int(value: Any) -> int:
    """Token counts arrive as ints (Anthropic, Gemini) or floats (Cohere)."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class TokenCounts:
    """Usage as a provider reports it, with the details the OpenAI usage object can carry."""

    prompt: int = 0
    completion: int = 0
    cached: int | None = None
    reasoning: int | None = None

    def usage(self) -> Usage:
        return Usage(
            prompt_tokens=self.prompt, completion_tokens=self.completion, reported=True, cached_tokens=self.cached or 0
        )

    def payload(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
        }
        if self.cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached}
        if self.reasoning is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning}
        return usage


@dataclass(slots=True)
class Choice:
    index: int = 0
    text: str = ""
    # (id, name, arguments as a JSON string)
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    finish_reason: str = "stop"

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text or (None if self.tool_calls else "")}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments in self.tool_calls
            ]
        return message


def completion_payload(
    *, completion_id: str, model: str, choices: list[Choice], tokens: TokenCounts
) -> tuple[dict[str, Any], Usage]:
    payload = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": c.index, "message": c.message(), "logprobs": None, "finish_reason": c.finish_reason}
            for c in choices
        ],
        "usage": tokens.payload(),
    }
    return payload, tokens.usage()


def arguments_json(arguments: Any) -> str:
    """Tool-call arguments as the JSON string OpenAI clients parse."""
    return orjson.dumps(arguments if isinstance(arguments, dict) else {}).decode()


def embeddings_payload(vectors: list[list[float]], model: str, prompt_tokens: int) -> tuple[dict[str, Any], Usage]:
    """Always floats: see docs/providers.md on ``encoding_format``."""
    payload = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return payload, Usage(prompt_tokens=prompt_tokens, reported=True)


def embeddings_inputs(body: Mapping[str, Any], kind: str) -> list[str]:
    value = body["input"]
    inputs = value if isinstance(value, list) else [value]
    if not all(isinstance(i, str) for i in inputs):
        raise unsupported(kind, "input", "token arrays cannot be translated; send text")
    return inputs


def embeddings_dimensions(body: Mapping[str, Any]) -> int | None:
    value = body.get("dimensions")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise invalid_request("'dimensions' must be a positive integer")
    return value


def provider_error_message(body: bytes) -> str:
    """The provider's message from its error body; Gemini sometimes wraps it in a list."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return upstream_error_message(body)
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        return upstream_error_message(orjson.dumps(payload[0]))
    return upstream_error_message(body)


# --- writing OpenAI streams --------------------------------------------------------------


class ChunkStream:
    """Base of the translating stream translators (see ``base.StreamTranslator``).

    Subclasses turn one provider event into OpenAI chunks in :meth:`event`, using the chunk
    writers here, and set :attr:`finished` when the provider's own end event arrives. At the
    end, :meth:`close` sends the usage chunk; a stream that ends without its end event, or
    with a provider error event, ends with one ``{"error": …}`` chunk instead (the OpenAI SDK
    raises it as ``APIError``), so the client never waits on a stream that will not finish.
    """

    kind = "provider"

    def __init__(self, model: str, prompt_chars: int) -> None:
        self._events = SSEBuffer()
        self._text_chars = 0
        self._opened: set[int] = set()
        self.model = model
        self.completion_id = new_completion_id()
        self.created = int(time.time())
        self.usage = Usage(prompt_tokens=estimate_tokens(prompt_chars))
        self.tokens: TokenCounts | None = None
        self.finished = False
        # The provider's error, once the stream failed; later events are ignored.
        self.error: str | None = None
        self.sink: list[dict[str, Any]] | None = None

    def event(self, event_type: str | None, data: dict[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for raw, payload in self._events.feed(data):
            if self.error is not None or not payload or payload == b"[DONE]":
                continue
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict):
                event_type = self._events.event_type(raw)
                out.extend(self.event(event_type.decode("utf-8", "replace") if event_type else None, event))
        return out

    def close(self) -> list[bytes]:
        if self.error is not None:
            return []
        if not self.finished:
            return self.fail("the provider's stream ended before it finished")
        return [self.usage_chunk()]

    def spent(self) -> Usage:
        return stream_usage(self.usage, self._text_chars, complete=self.finished and self.error is None)

    def report(self, tokens: TokenCounts) -> None:
        self.tokens = tokens
        self.usage = tokens.usage()

    def _count(self, text: str) -> None:
        self._text_chars += len(text)
        if self.tokens is None:
            self.usage.completion_tokens = estimate_tokens(self._text_chars)

    def emit(self, chunk: dict[str, Any]) -> bytes:
        """One OpenAI chunk as SSE, or handed to the :attr:`sink` as it is."""
        if self.sink is None:
            return sse_encode(chunk)
        self.sink.append(chunk)
        return b""

    def chunk(self, delta: dict[str, Any], index: int = 0, finish_reason: str | None = None) -> bytes:
        return self.emit(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
        )

    def open(self, index: int = 0) -> list[bytes]:
        """The first chunk of a choice carries the role, as OpenAI's does."""
        if index in self._opened:
            return []
        self._opened.add(index)
        return [self.chunk({"role": "assistant", "content": ""}, index)]

    def text(self, text: str, index: int = 0) -> list[bytes]:
        if not text:
            return []
        self._count(text)
        return [*self.open(index), self.chunk({"content": text}, index)]

    def tool_call_start(
        self, tool_index: int, call_id: str, name: str, arguments: str = "", index: int = 0
    ) -> list[bytes]:
        self._count(arguments)
        call = {
            "index": tool_index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return [*self.open(index), self.chunk({"tool_calls": [call]}, index)]

    def tool_call_arguments(self, tool_index: int, arguments: str, index: int = 0) -> list[bytes]:
        if not arguments:
            return []
        self._count(arguments)
        return [self.chunk({"tool_calls": [{"index": tool_index, "function": {"arguments": arguments}}]}, index)]

    def finish(self, reason: str, index: int = 0) -> list[bytes]:
        return [*self.open(index), self.chunk({}, index, reason)]

    def usage_chunk(self) -> bytes:
        tokens = self.tokens or TokenCounts(self.usage.prompt_tokens, self.usage.completion_tokens)
        return self.emit(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": tokens.payload(),
            }
        )

    def fail(self, message: str) -> list[bytes]:
        self.error = message[:500] or "upstream error"
        error = {
            "code": "upstream_error",
            "reason": "upstream_stream_error",
            "message": f"the provider's stream failed: {self.error}",
            "type": "api_error",
        }
        return [self.emit({"error": error})]
