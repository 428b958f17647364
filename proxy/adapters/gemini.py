"""The ``gemini`` kind: the Gemini API (``generateContent``, ``streamGenerateContent?alt=sse``,
``batchEmbedContents``) behind the OpenAI format.

URLs are ``{base}/{version}/models/{model}:{method}`` with ``version`` the provider's
``api_version``, else ``v1beta`` (the version the official SDK uses). The key goes in
``x-goog-api-key``. Field by field behaviour is in ``docs/providers.md``.

Tool call ids: Gemini matches function responses to calls by name and order and does not
always give calls an id, so the OpenAI id is Gemini's id or a new one. Gemini's thinking
models attach a ``thoughtSignature`` to a call that must come back with it in the next turn;
OpenAI clients only echo the id, so the signature travels inside it, after
:data:`THOUGHT_SIGNATURE_SEPARATOR`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from proxy.adapters import translation as t
from proxy.adapters.base import HostRootAdapter, UpstreamCall, Usage
from proxy.config_snapshot import ProviderEntry

GEMINI_API_VERSION = "v1beta"
THOUGHT_SIGNATURE_SEPARATOR = "__thought__"

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
}

REFUSED = dict(t.REFUSED_EVERYWHERE)

TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}


def model_path(model: str) -> str:
    """``gemini-2.5-flash`` or ``models/gemini-2.5-flash`` → ``models/gemini-2.5-flash``.

    Whatever follows the collection is one escaped path segment: a ``/``, ``:`` or ``?`` in a
    model name can never reach another path or method of the API (SPEC 3.6)."""
    collection, name = ("models", model)
    for prefix in ("models/", "tunedModels/"):
        if model.startswith(prefix):
            collection, name = prefix[:-1], model[len(prefix) :]
    return f"{collection}/{quote(name, safe='')}"


def _part_of(part: t.ContentPart) -> dict[str, Any]:
    if isinstance(part, t.TextPart):
        return {"text": part.text}
    if part.url is not None:
        # Gemini needs a MIME type for a remote file: it is guessed from the URL's extension.
        return {"fileData": {"mimeType": part.media_type or "image/jpeg", "fileUri": part.url}}
    return {"inlineData": {"mimeType": part.media_type, "data": part.data}}


def _function_response(text: str) -> dict[str, Any]:
    """Gemini wants an object: a JSON object result is sent as is, anything else as ``output``."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"output": text}


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Consecutive turns of one role are merged: the responses to parallel calls must come
    together, in one turn, after the model turn that made the calls."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def tool_call_id_split(call_id: str) -> tuple[str, str | None]:
    base, sep, signature = call_id.partition(THOUGHT_SIGNATURE_SEPARATOR)
    return base, (signature or None) if sep else None


def contents_translate(openai_messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """OpenAI messages → (system texts, Gemini contents); assistant turns have role ``model``."""
    names = t.tool_names_by_call_id(openai_messages)
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    for index, message in enumerate(openai_messages):
        where = f"messages[{index}]"
        role = message["role"]
        parts = t.content_parts(message.get("content"), where)
        if role in ("system", "developer"):
            text = t.text_only(parts, where, "gemini")
            if text:
                system.append(text)
        elif role == "user":
            _append(contents, "user", [_part_of(p) for p in parts])
        elif role == "assistant":
            model_parts = [_part_of(p) for p in parts if isinstance(p, t.TextPart)]
            for call in t.tool_calls_of(message, where):
                part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
                _, signature = tool_call_id_split(call.id)
                if signature:
                    part["thoughtSignature"] = signature
                model_parts.append(part)
            _append(contents, "model", model_parts)
        elif role == "tool":
            call_id = t.tool_call_id_of(message, where)
            if call_id not in names:
                raise t.unsupported(
                    "gemini", f"{where}.tool_call_id", "it names no tool call of an earlier assistant message"
                )
            response = {"name": names[call_id], "response": _function_response(t.text_only(parts, where, "gemini"))}
            _append(contents, "user", [{"functionResponse": response}])
        else:
            raise t.unsupported("gemini", f"{where}.role", f"role {role!r} is not translated")
    return system, contents


def _tokens(metadata: Any) -> t.TokenCounts:
    """Thinking tokens are billed as output: OpenAI's completion tokens include them too."""
    metadata = metadata if isinstance(metadata, dict) else {}
    thoughts = t.as_int(metadata.get("thoughtsTokenCount"))
    cached = metadata.get("cachedContentTokenCount")
    return t.TokenCounts(
        prompt=t.as_int(metadata.get("promptTokenCount")),
        completion=t.as_int(metadata.get("candidatesTokenCount")) + thoughts,
        cached=t.as_int(cached) if cached is not None else None,
        reasoning=thoughts or None,
    )


def _tool_call(part: dict[str, Any]) -> tuple[str, str, str]:
    call = part["functionCall"]
    call_id = call.get("id") or t.new_tool_call_id()
    if part.get("thoughtSignature"):
        call_id = f"{call_id}{THOUGHT_SIGNATURE_SEPARATOR}{part['thoughtSignature']}"
    return call_id, call.get("name", ""), t.arguments_json(call.get("args"))


def _finish_reason(reason: Any, has_tool_calls: bool) -> str:
    if has_tool_calls and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop")


def _parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
    return [p for p in content.get("parts") or () if isinstance(p, dict)]


class GeminiStream(t.ChunkStream):
    """Gemini SSE (``alt=sse``): every event is a whole ``GenerateContentResponse`` holding the
    new text, whole function calls, and cumulative usage; the last one has a ``finishReason``."""

    kind = "gemini"

    def __init__(self, model: str, prompt_chars: int) -> None:
        super().__init__(model, prompt_chars)
        self._tool_counts: dict[int, int] = {}

    def event(self, event_type: str | None, data: dict[str, Any]) -> list[bytes]:
        if "error" in data:
            error = data["error"]
            return self.fail(error.get("message", "") if isinstance(error, dict) else str(error))
        if data.get("responseId"):
            self.completion_id = t.new_completion_id(data["responseId"])
        if "usageMetadata" in data:
            self.report(_tokens(data["usageMetadata"]))
        out: list[bytes] = []
        candidates = data.get("candidates")
        if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
            self.finished = True
            return self.finish("content_filter")
        for position, candidate in enumerate(candidates or ()):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index", position)
            out += self.open(index)
            for part in _parts(candidate):
                if "functionCall" in part:
                    tool_index = self._tool_counts.get(index, 0)
                    self._tool_counts[index] = tool_index + 1
                    call_id, name, arguments = _tool_call(part)
                    out += self.tool_call_start(tool_index, call_id, name, arguments, index)
                elif isinstance(part.get("text"), str) and not part.get("thought"):
                    out += self.text(part["text"], index)
            reason = candidate.get("finishReason")
            if reason:
                self.finished = True
                out += self.finish(_finish_reason(reason, self._tool_counts.get(index, 0) > 0), index)
        return out


class GeminiAdapter(HostRootAdapter):
    kind = "gemini"

    def url(self, provider: ProviderEntry, model: str, method: str) -> str:
        version = provider.api_version or GEMINI_API_VERSION
        return f"{self.base_url(provider)}/{version}/{model_path(model)}:{method}"

    def headers(self, provider: ProviderEntry) -> dict[str, str]:
        headers = {**provider.extra_headers, "Content-Type": "application/json"}
        if provider.api_key:
            headers["x-goog-api-key"] = provider.api_key
        return headers

    def chat_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        t.fields_refuse(body, self.kind, REFUSED)
        system, contents = contents_translate(body["messages"])
        upstream: dict[str, Any] = {"contents": contents}
        if system:
            upstream["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        config = self._generation_config(body)
        if config:
            upstream["generationConfig"] = config
        tools = t.function_tools(body, self.kind)
        if tools:
            upstream["tools"] = [{"functionDeclarations": [self._declaration(tool) for tool in tools]}]
        choice = t.tool_choice_of(body, tools, self.kind)
        if choice is not None and tools:
            calling: dict[str, Any] = {"mode": TOOL_MODES[choice.mode]}
            if choice.mode == "function":
                calling["allowedFunctionNames"] = [choice.name]
            upstream["toolConfig"] = {"functionCallingConfig": calling}
        if body.get("stream"):
            return UpstreamCall(
                "POST",
                self.url(provider, model, "streamGenerateContent") + "?alt=sse",
                self.headers(provider),
                upstream,
            )
        return UpstreamCall("POST", self.url(provider, model, "generateContent"), self.headers(provider), upstream)

    @staticmethod
    def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for openai_name, gemini_name in (
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("presence_penalty", "presencePenalty"),
            ("frequency_penalty", "frequencyPenalty"),
            ("seed", "seed"),
        ):
            if body.get(openai_name) is not None:
                config[gemini_name] = body[openai_name]
        if body.get("n") is not None:
            config["candidateCount"] = body["n"]
        max_tokens = t.max_output_tokens(body)
        if max_tokens is not None:
            config["maxOutputTokens"] = max_tokens
        stop = t.stop_sequences(body)
        if stop:
            config["stopSequences"] = stop
        response_format = t.response_format_of(body)
        if response_format is not None and response_format.type != "text":
            config["responseMimeType"] = "application/json"
            if response_format.schema is not None:
                config["responseJsonSchema"] = response_format.schema
        return config

    @staticmethod
    def _declaration(tool: t.FunctionTool) -> dict[str, Any]:
        # parametersJsonSchema takes the JSON Schema as OpenAI clients write it; the older
        # ``parameters`` field accepts only an OpenAPI subset and rejects e.g. additionalProperties.
        declaration: dict[str, Any] = {"name": tool.name, "parametersJsonSchema": tool.parameters}
        if tool.description:
            declaration["description"] = tool.description
        return declaration

    def chat_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        choices = []
        for position, candidate in enumerate(payload.get("candidates") or ()):
            if not isinstance(candidate, dict):
                continue
            choice = t.Choice(index=candidate.get("index", position))
            parts = _parts(candidate)
            choice.text = "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
            choice.tool_calls = [_tool_call(p) for p in parts if isinstance(p.get("functionCall"), dict)]
            choice.finish_reason = _finish_reason(candidate.get("finishReason"), bool(choice.tool_calls))
            choices.append(choice)
        if not choices:
            # No candidate at all: the prompt itself was blocked (promptFeedback.blockReason).
            choices = [t.Choice(finish_reason="content_filter")]
        return t.completion_payload(
            completion_id=t.new_completion_id(payload.get("responseId")),
            model=model,
            choices=choices,
            tokens=_tokens(payload.get("usageMetadata")),
        )

    def stream_translator(self, model: str, prompt_chars: int) -> GeminiStream:
        return GeminiStream(model, prompt_chars)

    def embeddings_request(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        dimensions = t.embeddings_dimensions(body)
        requests = []
        for text in t.embeddings_inputs(body, self.kind):
            request: dict[str, Any] = {"model": model_path(model), "content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                request["outputDimensionality"] = dimensions
            requests.append(request)
        return UpstreamCall(
            "POST", self.url(provider, model, "batchEmbedContents"), self.headers(provider), {"requests": requests}
        )

    def embeddings_response(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        # batchEmbedContents answers {"embeddings": [...]}, embedContent {"embedding": {...}}.
        embeddings = payload.get("embeddings")
        if embeddings is None and isinstance(payload.get("embedding"), dict):
            embeddings = [payload["embedding"]]
        vectors = [e.get("values") or [] for e in embeddings or () if isinstance(e, dict)]
        return t.embeddings_payload(vectors, model, _tokens(payload.get("usageMetadata")).prompt)

    def error_message(self, status: int, body: bytes) -> str:
        return t.provider_error_message(body)
