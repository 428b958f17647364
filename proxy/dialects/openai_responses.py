"""The OpenAI Responses dialect (SPEC 3.9): ``POST /v1/responses`` for clients built on the
Responses API (the Agents SDK, Codex).

The gateway is stateless: a request carries the whole conversation in ``input``, and
``store`` is always false. To ``openai`` and ``azure_openai`` providers the body goes through
natively (:func:`responses_native_body`); to every other kind it becomes a chat completions
body (:func:`responses_chat_body`), whose answer and stream come back through
:func:`responses_answer` and :class:`ResponsesStream`. Which field goes where, and which are
refused, is the table in ``docs/providers.md`` → The Responses dialect.

Pure functions and one stream state machine, no I/O: the pipeline calls them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.errors import error_body, invalid_request
from core.ids import random_base62
from proxy.adapters.base import StreamTranslator, UpstreamCall, Usage, estimate_tokens, stream_usage
from proxy.adapters.openai_like import MAX_REPORTED_TOKENS
from proxy.adapters.sse import SSEBuffer
from proxy.config_snapshot import ProviderEntry
from proxy.dialects.base import ChatFormStream
from proxy.guardrails import TextSlot
from proxy.request_body import model_of

# Refused on every path: each needs state the gateway does not keep (SPEC 3.9), or text that
# the guardrails cannot see (a stored prompt template).
STATEFUL_FIELDS: dict[str, str] = {
    "previous_response_id": "the gateway keeps no responses; send the whole conversation in 'input'",
    "conversation": "the gateway keeps no conversations; send the whole conversation in 'input'",
    "background": "background responses must be stored, and the gateway stores none",
    "background_options": "background responses must be stored, and the gateway stores none",
    "prompt": "stored prompt templates are not expanded by the gateway",
    "context_management": "server-side compaction needs stored state",
}

# Refused on the chat form only: the chat completions API has no way to say them, and
# dropping them would silently change what the client gets back. Natively they go through.
CHAT_FORM_REFUSED: dict[str, str] = {
    "max_tool_calls": "the chat form cannot cap tool calls",
    "top_logprobs": "log probabilities are not translated",
    "moderation": "moderation is an OpenAI-hosted feature",
    "image": "it has no chat completions equivalent",
    "access_programs": "it has no chat completions equivalent",
}

# Sent on the chat form under the same name and meaning.
CHAT_FORM_SAME: tuple[str, ...] = (
    "temperature",
    "top_p",
    "metadata",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
)

CHAT_FORM_SAME_NAMES = frozenset(CHAT_FORM_SAME)

# Accepted and not sent on the chat form (each only asks for detail the chat form never
# produces, or is handled by the gateway itself); see docs/providers.md.
CHAT_FORM_DROPPED: frozenset[str] = frozenset({"store", "include", "stream_options", "truncation"})

# Everything else the chat form handles itself.
CHAT_FORM_HANDLED: frozenset[str] = frozenset(
    {"model", "input", "instructions", "tools", "tool_choice", "max_output_tokens", "stream", "reasoning", "text"}
)

# Every name the chat form refuses, handles, drops or sends: any other one it cannot carry.
CHAT_FORM_KNOWN: frozenset[str] = frozenset(
    {*STATEFUL_FIELDS, *CHAT_FORM_REFUSED, *CHAT_FORM_SAME, *CHAT_FORM_DROPPED, *CHAT_FORM_HANDLED}
)

# Input item types the gateway reads; any other (hosted-tool calls and their outputs, item
# references) is refused on every path: its text would reach the model unchecked.
INPUT_ITEM_TYPES = frozenset({"message", "function_call", "function_call_output", "reasoning"})
MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
TEXT_PART_TYPES = frozenset({"input_text", "output_text"})


def unsupported(name: str, why: str) -> Exception:
    return invalid_request(f"'{name}' is not supported on /v1/responses: {why}", "unsupported_parameter")


def _refused_check(body: Mapping[str, Any], refused: Mapping[str, str]) -> None:
    """Refuses the first field of ``refused`` (in its order) that the client asked for."""
    if body.keys() & refused.keys():
        for name, why in refused.items():
            if _set(body, name):
                raise unsupported(name, why)


def _set(body: Mapping[str, Any], name: str) -> bool:
    """Whether the client asked for something with ``name``, rather than sending its default."""
    value = body.get(name)
    return value is not None and value not in (False, 0, "", [], {})


# --- reading the request -------------------------------------------------------------------


def _items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``input`` as a list of items (a string is one user message)."""
    value = body.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return value if isinstance(value, list) else []


def _item_type(item: Mapping[str, Any]) -> str:
    # An item without a type is a message ("easy input message": {role, content}).
    value = item.get("type")
    return value if isinstance(value, str) else "message"


def responses_body_check(body: Mapping[str, Any]) -> tuple[str, bool, int]:
    """The model, whether the client asked for a stream, and the prompt's characters.

    Refuses (``400 invalid_request``) what no path can serve: a missing or malformed
    ``input``, the stateful fields of :data:`STATEFUL_FIELDS`, tools other than functions,
    and input items the gateway cannot read; the shape of each read item is checked here so
    that the translation and the guardrails never meet a surprise.
    """
    model = model_of(body)
    _refused_check(body, STATEFUL_FIELDS)
    value = body.get("input")
    if not (isinstance(value, str) and value) and not (isinstance(value, list) and value):
        raise invalid_request("'input' must be a non-empty string or a non-empty list of items", "invalid_input")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid_request("'instructions' must be a string")
    if isinstance(value, list):  # a string is one well-formed user message
        for index, item in enumerate(value):
            _item_check(item, f"input[{index}]")
    _tools_check(body.get("tools"))
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise invalid_request("'stream' must be a boolean")
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise invalid_request("'max_output_tokens' must be a positive integer")
    if isinstance(value, str) and not body.get("tools"):
        # The slots of the commonest request, without walking them: its input and instructions.
        prompt_chars = len(value) + (len(instructions) if instructions is not None else 0)
    else:
        prompt_chars = sum(len(container[key]) for container, key in responses_text_slots(body))
    return model, bool(stream), prompt_chars


def _item_check(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise invalid_request(f"{where} must be an object", "invalid_input")
    kind = _item_type(item)
    if kind == "item_reference":
        raise unsupported("item_reference", "the gateway keeps no items; send them whole")
    if kind not in INPUT_ITEM_TYPES:
        raise unsupported(f"{where}.type", f"input items of type {kind!r} are not supported")
    if kind == "message":
        if item.get("role") not in MESSAGE_ROLES:
            raise invalid_request(f"{where}.role must be one of user, assistant, system, developer", "invalid_input")
        content = item.get("content")
        if isinstance(content, str):
            return
        if not isinstance(content, list):
            raise invalid_request(f"{where}.content must be a string or a list of parts", "invalid_input")
        for number, part in enumerate(content):
            _part_check(part, f"{where}.content[{number}]")
    elif kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            if not isinstance(item.get(name), str):
                raise invalid_request(f"{where}.{name} must be a string", "invalid_input")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise invalid_request(f"{where}.call_id must be a string", "invalid_input")
        output = item.get("output")
        if isinstance(output, list):
            for number, part in enumerate(output):
                _part_check(part, f"{where}.output[{number}]")
        elif not isinstance(output, str):
            raise invalid_request(f"{where}.output must be a string or a list of parts", "invalid_input")
    else:  # reasoning: its summary is text toward the model
        for number, part in enumerate(item.get("summary") or []):
            if not isinstance(part, dict) or not isinstance(part.get("text"), str):
                raise invalid_request(f"{where}.summary[{number}] must have a 'text'", "invalid_input")


def _part_check(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise invalid_request(f"{where} must be an object", "invalid_input")
    kind = part.get("type")
    if kind in TEXT_PART_TYPES:
        if not isinstance(part.get("text"), str):
            raise invalid_request(f"{where}.text must be a string", "invalid_input")
    elif kind == "refusal":
        if not isinstance(part.get("refusal"), str):
            raise invalid_request(f"{where}.refusal must be a string", "invalid_input")
    elif kind == "input_image":
        if not isinstance(part.get("image_url"), str) and not isinstance(part.get("file_id"), str):
            raise invalid_request(f"{where} needs an 'image_url' (or a 'file_id')", "invalid_input")
    elif kind == "input_file":
        if not any(isinstance(part.get(n), str) for n in ("file_data", "file_id", "file_url")):
            raise invalid_request(f"{where} needs 'file_data', 'file_url' or 'file_id'", "invalid_input")
    else:
        raise unsupported(f"{where}.type", f"content parts of type {kind!r} are not supported")


def _tools_check(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid_request("'tools' must be a list")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid_request(f"tools[{index}] must be an object")
        if tool.get("type") != "function":
            raise unsupported(
                f"tools[{index}].type", f"only function tools are supported, not {tool.get('type')!r} (hosted tools)"
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise invalid_request(f"tools[{index}].name must be a non-empty string")
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid_request(f"tools[{index}].description must be a string")
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid_request(f"tools[{index}].parameters must be an object")


def responses_text_slots(body: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every text the request carries toward the model (SPEC 3.5):
    ``instructions``, the texts of ``input`` (a string, message text parts, earlier refusals,
    function-call arguments, function-call outputs, reasoning summaries) and the descriptions
    of the function tools. Only well-formed slots are yielded: :func:`responses_body_check`
    has refused every other shape before the guardrails run."""
    if isinstance(body.get("instructions"), str):
        yield body, "instructions"
    value = body.get("input")
    if isinstance(value, str):
        yield body, "input"
    for item in value if isinstance(value, list) else ():
        if not isinstance(item, dict):
            continue
        kind = _item_type(item)
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                yield item, "content"
            else:
                yield from _part_slots(content)
        elif kind == "function_call" and isinstance(item.get("arguments"), str):
            yield item, "arguments"
        elif kind == "function_call_output":
            if isinstance(item.get("output"), str):
                yield item, "output"
            else:
                yield from _part_slots(item.get("output"))
        elif kind == "reasoning":
            yield from _part_slots(item.get("summary"))
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and isinstance(tool.get("description"), str):
            yield tool, "description"


def _part_slots(parts: Any) -> Iterator[tuple[Any, Any]]:
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, dict):
            for key in ("text", "refusal"):
                if isinstance(part.get(key), str):
                    yield part, key


# --- the native body -----------------------------------------------------------------------


def responses_native_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The body for an OpenAI-style Responses API: as it came, with the routed model and
    ``store`` forced to false (the gateway keeps nothing, and neither may its providers)."""
    return {**body, "model": model, "store": False}


# --- the chat form -------------------------------------------------------------------------


def responses_chat_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat completions body that asks for the same answer, for the provider kinds that
    have no Responses API. Refuses (``unsupported_parameter``) what it cannot carry."""
    _refused_check(body, CHAT_FORM_REFUSED)
    # Set operations over the body's names: most bodies name none of these.
    others = body.keys() - CHAT_FORM_KNOWN
    if others:
        unknown = sorted(n for n in others if _set(body, n))
        if unknown:
            raise unsupported(unknown[0], "the gateway cannot carry it to this provider kind")
    if body.get("truncation") not in (None, "disabled"):
        raise unsupported("truncation", "only 'disabled' can be honoured: the chat form never truncates")

    chat: dict[str, Any] = {"model": body["model"], "messages": _messages(body)}
    if body.keys() & CHAT_FORM_SAME_NAMES:  # most bodies carry none of them
        for name in CHAT_FORM_SAME:
            if body.get(name) is not None:
                chat[name] = body[name]
    if body.get("stream"):
        chat["stream"] = True
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    tools = body.get("tools")
    if tools:
        chat["tools"] = [_chat_tool(tool) for tool in tools]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _chat_tool_choice(body["tool_choice"])
    if body.get("reasoning") is not None:
        _reasoning_carry(body["reasoning"], chat)
    if body.get("text") is not None:
        _text_carry(body["text"], chat)
    return chat


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    for item in _items(body):
        kind = _item_type(item)
        if kind == "message":
            messages.append(_chat_message(item))
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            # Parallel calls, and the text the model said before them, are one chat message.
            if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
                last.setdefault("tool_calls", []).append(call)
                if last.get("content") is None:
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item["output"]
            content = output if isinstance(output, str) else [_chat_part(p) for p in output]
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": content})
        # reasoning items are the model's own state of an earlier turn: the chat form has
        # nowhere to put them, and the answer does not depend on them.
    return messages


def _chat_message(item: Mapping[str, Any]) -> dict[str, Any]:
    content = item["content"]
    role = item["role"]
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = [_chat_part(p) for p in content if p.get("type") != "refusal"]
    if role == "assistant":
        # Earlier answers: the chat form takes an assistant's text, not its media.
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        return {"role": "assistant", "content": text}
    return {"role": role, "content": parts}


def _chat_part(part: Mapping[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind in TEXT_PART_TYPES:
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        if not isinstance(part.get("image_url"), str):
            raise unsupported("input_image.file_id", "uploaded file ids are OpenAI's own; send 'image_url'")
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not isinstance(part.get("file_data"), str):
            raise unsupported("input_file", "only inline 'file_data' can be carried to this provider kind")
        file: dict[str, Any] = {"file_data": part["file_data"]}
        if isinstance(part.get("filename"), str):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    raise unsupported("content part", f"parts of type {kind!r} are not supported")


def _chat_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    if tool.get("strict") is not None:
        function["strict"] = bool(tool["strict"])
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function" and isinstance(choice.get("name"), str):
            return {"type": "function", "function": {"name": choice["name"]}}
        if kind == "allowed_tools" and isinstance(choice.get("tools"), list):
            allowed = []
            for tool in choice["tools"]:
                named = isinstance(tool, dict) and isinstance(tool.get("name"), str)
                if not named or tool.get("type") != "function":
                    raise unsupported("tool_choice.tools", "only function tools can be allowed")
                allowed.append({"type": "function", "function": {"name": tool["name"]}})
            return {"type": "allowed_tools", "allowed_tools": {"mode": choice.get("mode", "auto"), "tools": allowed}}
    raise unsupported("tool_choice", "only 'auto', 'none', 'required', a function or allowed function tools")


def _reasoning_carry(reasoning: Any, chat: dict[str, Any]) -> None:
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise invalid_request("'reasoning' must be an object")
    for name in ("summary", "generate_summary"):
        if reasoning.get(name) is not None:
            raise unsupported(f"reasoning.{name}", "the chat form returns no reasoning summaries")
    if reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]


def _text_carry(text: Any, chat: dict[str, Any]) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise invalid_request("'text' must be an object")
    if text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]
    form = text.get("format")
    if form is None:
        return
    kind = form.get("type") if isinstance(form, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
        return
    if kind == "json_schema" and isinstance(form.get("schema"), dict):
        schema = {"name": form.get("name") or "response", "schema": form["schema"]}
        for name in ("description", "strict"):
            if form.get(name) is not None:
                schema[name] = form[name]
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
        return
    raise unsupported("text.format", "only 'text', 'json_object' and 'json_schema' (with a 'schema')")


# --- the answer ----------------------------------------------------------------------------


def new_response_id() -> str:
    return "resp_" + random_base62(24)


def _new_item_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(24)}"


def _count(value: Any) -> int:
    # JSON's integers are plain ints: compared in place, as ``min``/``max`` calls cost more
    # than the rest of a usage object's reading.
    if type(value) is int:
        return value if 0 <= value <= MAX_REPORTED_TOKENS else (0 if value < 0 else MAX_REPORTED_TOKENS)
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), MAX_REPORTED_TOKENS)


def responses_usage(chat_usage: Any) -> dict[str, Any]:
    """Chat completion usage → the Responses usage object (details objects included)."""
    usage = chat_usage if isinstance(chat_usage, dict) else {}
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details")
    if not isinstance(prompt_details, dict):
        prompt_details = {}
    completion_details = usage.get("completion_tokens_details")
    if not isinstance(completion_details, dict):
        completion_details = {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": _count(prompt_details.get("cached_tokens")),
            "cache_write_tokens": _count(prompt_details.get("cache_write_tokens")),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _count(completion_details.get("reasoning_tokens"))},
        "total_tokens": prompt + completion,
    }


def _echo(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's settings a Response object repeats back, as OpenAI fills them."""
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "temperature": body.get("temperature"),
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "store": False,
        "text": body.get("text") or {"format": {"type": "text"}},
        "truncation": body.get("truncation") or "disabled",
    }


# The settings a Response repeats back whose absence ``_echo`` fills with a default.
ECHO_DEFAULTED = frozenset(
    {"metadata", "parallel_tool_calls", "temperature", "tool_choice", "tools", "top_p", "text", "truncation"}
)
# ``_echo``'s JSON, past its opening brace, for a request that sets none of ``ECHO_DEFAULTED``:
# around its ``instructions`` and ``max_output_tokens``.
ECHO_OF_DEFAULTS = (
    b',"instructions":%s,"max_output_tokens":%s,"metadata":{},"parallel_tool_calls":true,"temperature":null,'
    b'"tool_choice":"auto","tools":[],"top_p":null,"store":false,"text":{"format":{"type":"text"}},'
    b'"truncation":"disabled"}'
)


def _echo_json(body: Mapping[str, Any]) -> bytes:
    """``_echo(body)`` as JSON without its opening brace, to end a snapshot's JSON: most
    requests set only the two fields that are not written in ``ECHO_OF_DEFAULTS``."""
    if body.keys() & ECHO_DEFAULTED:
        return b"," + orjson.dumps(_echo(body))[1:]
    dumps = orjson.dumps
    return ECHO_OF_DEFAULTS % (dumps(body.get("instructions")), dumps(body.get("max_output_tokens")))


def _response(
    echo: Mapping[str, Any],
    *,
    response_id: str,
    created_at: int,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    incomplete = None
    if status == "incomplete":
        reason = "content_filter" if finish_reason == "content_filter" else "max_output_tokens"
        incomplete = {"reason": reason}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "model": model,
        "output": output,
        "usage": usage,
        **echo,
    }


def _status_of(finish_reason: str | None) -> str:
    return "incomplete" if finish_reason in ("length", "content_filter") else "completed"


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def _function_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def responses_answer(completion: Mapping[str, Any], model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat completion → the Response object; ``body``, the request, fills the
    settings a Response repeats back (instructions, tools, …)."""
    choices = completion.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    finish_reason = choice.get("finish_reason")
    status = _status_of(finish_reason)
    output: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, list):  # some providers answer in parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(text, str) and text:
        output.append(_message_item(_new_item_id("msg"), text, status))
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        output.append(
            _function_item(
                _new_item_id("fc"),
                str(call.get("id") or _new_item_id("call")),
                str(function.get("name") or ""),
                arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode(),
                "completed",
            )
        )
    created = completion.get("created")
    return _response(
        _echo(body),
        response_id=new_response_id(),
        created_at=created if isinstance(created, int) and not isinstance(created, bool) else int(time.time()),
        model=model,
        status=status,
        output=output,
        usage=responses_usage(completion.get("usage")),
        finish_reason=finish_reason,
    )


def native_usage(payload: Mapping[str, Any]) -> Usage | None:
    """Tokens of a native Response object (its ``usage``), or None when it reports none."""
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    details = usage.get("input_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(
        _count(usage.get("input_tokens")), _count(usage.get("output_tokens")), reported=True, cached_tokens=cached
    )


# --- streams -------------------------------------------------------------------------------


def event_encode(event: Mapping[str, Any]) -> bytes:
    """One typed event as OpenAI sends it: the ``event:`` line names the ``type``."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def error_event(
    status: int, code: str, message: str, reason: str | None, request_id: str | None, sequence_number: int
) -> bytes:
    """The stream's error event: OpenAI's ``error`` event, carrying the SPEC section 4 envelope
    in ``error``, so the openai SDK raises it as ``openai.APIError`` with the gateway's body."""
    event = {
        "type": "error",
        "sequence_number": sequence_number,
        "code": code,
        "message": message,
        "param": None,
        **error_body(status, code, message, reason, request_id),
    }
    return event_encode(event)


# An event as ``event_encode`` writes it, around its type, its other fields and its number.
EVENT_FRAME = b'event: %s\ndata: {"type":"%s",%s,"sequence_number":%d}\n\n'
# ``EVENT_FRAME`` of a text delta, before the message's place and after the text.
TEXT_DELTA_HEAD = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
TEXT_DELTA_TAIL = b',"logprobs":[],"sequence_number":%d}\n\n'
# ``_message_item`` as JSON, around its id, its status and its content parts.
MESSAGE_ITEM_OPEN = b'{"id":%s,"type":"message","role":"assistant","status":"%s","content":[%s]}'
# ``_response``'s own fields as JSON, before the request's settings: around the id, the
# creation time, the status, the incomplete details, the model, the output items and the usage.
SNAPSHOT_HEAD = (
    b'{"id":"%s","object":"response","created_at":%d,"status":"%s","error":null,'
    b'"incomplete_details":%s,"model":%s,"output":[%s],"usage":%s'
)
# An output text part as JSON, around its text.
TEXT_PART = b'{"type":"output_text","text":%s,"annotations":[],"logprobs":[]}'


@dataclass(slots=True)
class _Call:
    item_id: str
    call_id: str
    name: str
    output_index: int
    arguments: list[str] = field(default_factory=list)
    done: bool = False


class ResponsesChatStream(ChatFormStream):
    """The OpenAI chunk SSE of any provider adapter (``inner``) → the Responses API's typed
    events, in OpenAI's order, each with its ``sequence_number``.

    ``inner`` keeps counting usage and telling whether the provider finished. The terminal
    ``response.completed`` (``response.incomplete`` for an answer cut by its token limit)
    comes from :meth:`ending` alone, once the request's record is committed. Every snapshot
    of the Response repeats the request's settings (``request``), as OpenAI's do.
    """

    def __init__(self, inner: StreamTranslator, model: str, request: dict[str, Any]) -> None:
        super().__init__(inner, model, request)
        self._sequence = 0
        self._created_at = int(time.time())
        # One draw for the response's id and its first message's: each draw costs more than
        # the characters it gives.
        drawn = random_base62(48)
        self.response_id = "resp_" + drawn[:24]
        self._spare_message_id: str | None = "msg_" + drawn[24:]
        self._started = False
        # By output index; None until done, a message item as its JSON.
        self._output: list[dict[str, Any] | bytes | None] = []
        self._model_json = orjson.dumps(model)
        self._message_id: str | None = None
        self._message_index = 0
        self._text: list[str] = []
        self._calls: dict[int, _Call] = {}
        self._open_call: _Call | None = None
        self._chat_usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        # What every snapshot of the Response repeats of the request, as the end of its JSON
        # (``,"instructions":…}``): encoded once.
        self._echo_json = _echo_json(request)
        # The open message's place, as its events write it, and its text deltas' head.
        self._where = self._delta_head = b""

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._start(out)
        self._chunk_write(chunk, out)
        return out

    def _translate(self) -> list[bytes]:
        """``ChatFormStream._translate`` with every chunk's events written into one list: a
        read brings several chunks, and a list and a call a chunk weighed as much as its event."""
        chunks = self._chunks
        if not chunks:
            return []
        out: list[bytes] = []
        for chunk in chunks:
            if "error" in chunk:
                error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
                out.extend(self.failure(error))
                continue
            if not self._started:
                self._start(out)
            self._chunk_write(chunk, out)
        chunks.clear()
        return out

    def _chunk_write(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        """One OpenAI chunk's events, once the stream has started."""
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._chat_usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if delta and isinstance(delta, dict):
                content = delta.get("content")
                if content and isinstance(content, str):
                    if self._message_id is None:
                        self._message_open(out)
                    self._text.append(content)
                    # One a chunk: ``_frame``'s bytes from the message's own head.
                    out.append(self._delta_head + orjson.dumps(content) + TEXT_DELTA_TAIL % self._sequence)
                    self._sequence += 1
                tool_calls = delta.get("tool_calls")
                if tool_calls:
                    for call in tool_calls:
                        if isinstance(call, dict):
                            self._call_delta(call, out)
            finish_reason = choice.get("finish_reason")
            if finish_reason:
                self.finish_reason = finish_reason

    def failure(self, error: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        self._start(out)
        message = error.get("message")
        message = message[:500] if isinstance(message, str) and message else "upstream error"
        reason = error.get("reason") if isinstance(error.get("reason"), str) else "upstream_stream_error"
        out.append(self.error_event(502, "upstream_error", message, reason, None))
        return out

    def error_event(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> bytes:
        """OpenAI's ``error`` event, numbered after every event this stream has sent."""
        encoded = error_event(status, code, message, reason, request_id, self._sequence)
        self._sequence += 1
        return encoded

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        self._start(out)
        self._message_close(out)
        self._call_close(out)
        return out

    def ending(self, failed: bool) -> bytes:
        """The terminal event: the whole Response with its usage; nothing after a failure
        (the stream has already ended on an error event)."""
        if failed:
            return b""
        status = _status_of(self.finish_reason)
        usage = self._chat_usage
        if usage is None:
            spent = self.spent()
            usage = {"prompt_tokens": spent.prompt_tokens, "completion_tokens": spent.completion_tokens}
        response = self._snapshot(status, responses_usage(usage))
        kind = b"response.incomplete" if status == "incomplete" else b"response.completed"
        return self._frame(kind, b'"response":' + response)

    # -- internals

    def _event(self, event: dict[str, Any]) -> bytes:
        event["sequence_number"] = self._sequence
        self._sequence += 1
        return event_encode(event)

    def _frame(self, kind: bytes, fields: bytes) -> bytes:
        """``_event``'s bytes for an event whose fields after ``type`` are already JSON: the
        message's events come several a chunk, and their objects would be built only to be
        encoded."""
        self._sequence += 1
        return EVENT_FRAME % (kind, kind, fields, self._sequence - 1)

    def _item_event(self, kind: str, output_index: int, item: dict[str, Any]) -> bytes:
        return self._event({"type": kind, "output_index": output_index, "item": item})

    def _snapshot(self, status: str, usage: dict[str, Any] | None) -> bytes:
        """The Response so far as JSON, byte for byte as ``_response`` would encode it (its
        own fields from ``SNAPSHOT_HEAD``, the closed message items already encoded), then
        the request's settings, encoded once a stream (``_echo_json``)."""
        for call in self._calls.values():
            item = self._output[call.output_index]
            if isinstance(item, dict):  # late fragments of a closed call still belong to it
                item["arguments"] = "".join(call.arguments)
        items: list[bytes] = []
        for item in self._output:
            if item.__class__ is bytes:
                items.append(item)
            elif item is not None:
                items.append(orjson.dumps(item))
        incomplete = b"null"
        if status == "incomplete":
            reason = b"content_filter" if self.finish_reason == "content_filter" else b"max_output_tokens"
            incomplete = b'{"reason":"%s"}' % reason
        head = SNAPSHOT_HEAD % (
            self.response_id.encode(),
            self._created_at,
            status.encode(),
            incomplete,
            self._model_json,
            b",".join(items),
            b"null" if usage is None else orjson.dumps(usage),
        )
        return head + self._echo_json

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        # Both events carry the same snapshot: encoded once.
        fields = b'"response":' + self._snapshot("in_progress", None)
        out.append(self._frame(b"response.created", fields))
        out.append(self._frame(b"response.in_progress", fields))

    def _reserve(self) -> int:
        self._output.append(None)
        return len(self._output) - 1

    def _message_open(self, out: list[bytes]) -> None:
        self._call_close(out)
        self._message_id, self._spare_message_id = self._spare_message_id or _new_item_id("msg"), None
        self._message_index = self._reserve()
        item_id = orjson.dumps(self._message_id)
        self._where = b'"item_id":%s,"output_index":%d,"content_index":0' % (item_id, self._message_index)
        item = MESSAGE_ITEM_OPEN % (item_id, b"in_progress", b"")
        out.append(
            self._frame(b"response.output_item.added", b'"output_index":%d,"item":%s' % (self._message_index, item))
        )
        out.append(self._frame(b"response.content_part.added", self._where + b',"part":' + TEXT_PART % b'""'))
        self._delta_head = TEXT_DELTA_HEAD + self._where + b',"delta":'

    def _message_close(self, out: list[bytes]) -> None:
        if self._message_id is None:
            return
        text = "".join(self._text)
        encoded = orjson.dumps(text)
        part = TEXT_PART % encoded
        out.append(self._frame(b"response.output_text.done", self._where + b',"text":%s,"logprobs":[]' % encoded))
        out.append(self._frame(b"response.content_part.done", self._where + b',"part":' + part))
        item = MESSAGE_ITEM_OPEN % (orjson.dumps(self._message_id), b"completed", part)
        out.append(
            self._frame(b"response.output_item.done", b'"output_index":%d,"item":%s' % (self._message_index, item))
        )
        self._output[self._message_index] = item  # ``_message_item``'s JSON, for the snapshot
        self._message_id, self._text = None, []

    def _call_delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        index = delta.get("index", 0)
        function = delta.get("function") if isinstance(delta.get("function"), dict) else {}
        arguments = function.get("arguments") if isinstance(function.get("arguments"), str) else ""
        call = self._calls.get(index)
        if call is None:
            self._message_close(out)
            self._call_close(out)
            call = _Call(
                item_id=_new_item_id("fc"),
                call_id=str(delta.get("id") or _new_item_id("call")),
                name=str(function.get("name") or ""),
                output_index=self._reserve(),
            )
            self._calls[index] = call
            self._open_call = call
            item = _function_item(call.item_id, call.call_id, call.name, "", "in_progress")
            out.append(self._item_event("response.output_item.added", call.output_index, item))
        if not arguments:
            return
        call.arguments.append(arguments)
        if call.done:
            return  # a late fragment of a call already closed: kept for the final response only
        where = {"item_id": call.item_id, "output_index": call.output_index}
        out.append(self._event({"type": "response.function_call_arguments.delta", **where, "delta": arguments}))

    def _call_close(self, out: list[bytes]) -> None:
        call, self._open_call = self._open_call, None
        if call is None or call.done:
            return
        call.done = True
        arguments = "".join(call.arguments)
        where = {"item_id": call.item_id, "output_index": call.output_index}
        out.append(
            self._event(
                {"type": "response.function_call_arguments.done", **where, "name": call.name, "arguments": arguments}
            )
        )
        item = _function_item(call.item_id, call.call_id, call.name, arguments, "completed")
        self._output[call.output_index] = item
        out.append(self._item_event("response.output_item.done", call.output_index, item))


# Terminal events of a native stream: held back until the record is committed.
NATIVE_ENDINGS = frozenset({"response.completed", "response.incomplete"})
NATIVE_TEXT_DELTAS = frozenset({"response.output_text.delta", "response.function_call_arguments.delta"})


class ResponsesNativeStream:
    """A native Responses stream (``openai``, ``azure_openai``) relayed event by event, as it
    came, while reading its usage (from the terminal event's ``response.usage``; until then,
    estimated from the text deltas relayed).

    Events go out whole and only when a client SDK can read them: a JSON object with a
    ``type``, or a comment (keep-alive). The terminal ``response.completed`` (or
    ``response.incomplete``) is held back and sent by :meth:`ending`, once the record is
    committed. A ``response.failed`` or ``error`` event is relayed and sets ``error``. An error
    event of the gateway's own (:meth:`error_event`) takes the number after the last event
    relayed, so the client's ``sequence_number``s run on without a gap or a repeat.
    """

    __slots__ = ("_ending", "_events", "_sequence", "_text_chars", "error", "usage")

    def __init__(self, prompt_chars: int) -> None:
        self._events = SSEBuffer()
        self._sequence = 0
        self._text_chars = 0
        self._ending: bytes | None = None
        self.error: str | None = None
        self.usage = Usage(prompt_tokens=estimate_tokens(prompt_chars))

    @property
    def complete(self) -> bool:
        return self._ending is not None and self.error is None

    def feed(self, data: bytes) -> list[bytes]:
        return self._relay(self._events.feed(data))

    def close(self) -> list[bytes]:
        # An upstream that closes right after its last event may leave out the blank line.
        return self._relay(self._events.feed(b"\n\n"))

    def spent(self) -> Usage:
        return stream_usage(self.usage, self._text_chars, complete=self.complete)

    def ending(self, failed: bool) -> bytes:
        return self._ending if self._ending is not None and not failed else b""

    def error_event(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> bytes:
        encoded = error_event(status, code, message, reason, request_id, self._sequence)
        self._sequence += 1
        return encoded

    def _relay(self, events: list[tuple[bytes, bytes]]) -> list[bytes]:
        out = [raw for raw, payload in events if self._accept(raw, payload)]
        if not self.usage.reported:
            self.usage.completion_tokens = estimate_tokens(self._text_chars)
        return [b"".join(out)] if out else []

    def _accept(self, raw: bytes, payload: bytes) -> bool:
        if self._ending is not None:
            return False  # nothing may follow the terminal event
        if not payload:
            lines = [line for line in raw.split(b"\n") if line]
            return bool(lines) and all(line.startswith(b":") for line in lines)
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return False
        kind = event["type"]
        if kind in NATIVE_TEXT_DELTAS and isinstance(event.get("delta"), str):
            self._text_chars += len(event["delta"])
        response = event.get("response")
        if isinstance(response, dict):
            reported = native_usage(response)
            if reported is not None:
                self.usage = reported
        if kind in NATIVE_ENDINGS:
            self._ending = raw
            return False
        number = event.get("sequence_number")
        # Within JSON's exact integers: a provider's absurd number must not break our own event.
        if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < 2**53:
            self._sequence = max(self._sequence, number + 1)
        if kind == "response.failed":
            error = response.get("error") if isinstance(response, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            self.error = message[:500] if isinstance(message, str) and message else "the response failed"
        elif kind == "error":
            message = event.get("message")
            self.error = message[:500] if isinstance(message, str) and message else "upstream error"
        return True


def _native_url(adapter: Any, provider: ProviderEntry) -> str:
    base = adapter.base_url(provider)
    if provider.kind != "azure_openai":
        return f"{base}/responses"
    # Azure serves the Responses API on its v1 path, model (the deployment) in the body and no
    # api-version: the deployment URLs of chat have no Responses operation.
    for suffix in ("/openai/v1", "/openai"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return f"{base}/openai/v1/responses"


class ResponsesDialect:
    """``POST /v1/responses`` (SPEC 3.9): native to the kinds with a Responses API, through
    the chat form to every other; errors in SPEC section 4's envelope, as on chat."""

    endpoint = "responses"
    policy_endpoint = "chat"
    native_kinds = frozenset({"openai", "azure_openai"})

    def body_check(self, body: dict[str, Any]) -> tuple[str, bool, int]:
        return responses_body_check(body)

    def max_output_tokens(self, body: dict[str, Any]) -> int | None:
        return body.get("max_output_tokens")

    def text_slots(self, body: dict[str, Any]) -> Iterator[TextSlot]:
        return responses_text_slots(body)

    def chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return responses_chat_body(body)

    def chat_answer(self, payload: dict[str, Any], model: str, body: dict[str, Any]) -> dict[str, Any]:
        return responses_answer(payload, model, body)

    def chat_stream(self, inner: StreamTranslator, model: str, body: dict[str, Any]) -> ResponsesChatStream:
        return ResponsesChatStream(inner, model, body)

    def native_request(self, adapter: Any, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        headers = {**provider.extra_headers, **adapter.auth_headers(provider), "Content-Type": "application/json"}
        return UpstreamCall("POST", _native_url(adapter, provider), headers, responses_native_body(body, model))

    def native_answer(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        if payload.get("object") != "response" or not isinstance(payload.get("output"), list):
            raise ValueError("not a Response object")
        return payload, native_usage(payload) or Usage()

    def native_stream(self, model: str, prompt_chars: int) -> ResponsesNativeStream:
        return ResponsesNativeStream(prompt_chars)

    def error_body(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> dict[str, Any]:
        return error_body(status, code, message, reason, request_id)
