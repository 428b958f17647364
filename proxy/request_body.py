"""Parsing and checking OpenAI request bodies: bad input is a 400, never a 500."""

from __future__ import annotations

from typing import Any

import orjson

from core.errors import invalid_request
from core.validation import is_model_name

MAX_JSON_DEPTH = 64


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def json_body_parse(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise invalid_request("the request body is empty; a JSON object is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"the request body is not valid JSON: {exc.args[0][:100]}") from None
    if not isinstance(body, dict):
        raise invalid_request("the request body must be a JSON object")
    if not _depth_ok(body, MAX_JSON_DEPTH):
        raise invalid_request(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("'model' is required and must be a non-empty string", "invalid_model")
    if not is_model_name(model):
        raise invalid_request(
            "'model' must be at most 256 characters of letters, digits and ._:@/+- without '..', '//' or a leading '/'",
            "invalid_model",
        )
    return model


def _optional_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise invalid_request(f"'{name}' must be a non-negative integer")


def text_length(content: Any) -> int:
    """Characters of text in a message content (string or content-part array)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return 0


def chat_body_check(body: dict[str, Any]) -> tuple[str, bool, int]:
    """Returns the model, whether the client asked for a stream, and the prompt's characters."""
    model = model_of(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("'messages' must be a non-empty list", "invalid_messages")
    prompt_chars = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise invalid_request(f"messages[{index}] must be an object with a 'role'", "invalid_messages")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid_request(f"messages[{index}].content must be a string or a list of parts", "invalid_messages")
        prompt_chars += text_length(content)
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise invalid_request("'stream' must be a boolean")
    _optional_int(body, "max_tokens")
    _optional_int(body, "max_completion_tokens")
    return model, bool(stream), prompt_chars


def embeddings_body_check(body: dict[str, Any]) -> tuple[str, int]:
    model = model_of(body)
    value = body.get("input")
    if isinstance(value, str):
        if not value:
            raise invalid_request("'input' must not be empty")
        return model, len(value)
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return model, sum(len(v) for v in value)
        if all(isinstance(v, int) for v in value) or all(
            isinstance(v, list) and all(isinstance(t, int) for t in v) for v in value
        ):
            return model, 4 * sum(len(v) if isinstance(v, list) else 1 for v in value)
    raise invalid_request("'input' must be a string, a list of strings, or token arrays")
