"""The exact bytes the Responses dialect writes through the chat form, pinned.

Why: the stream's events are written from byte templates and hand-built frames for speed
(the dialect's cost must stay within 10% of chat's), and the SDK tests read events as parsed
JSON, where a reordered key, a lost space or a changed separator would go unseen. These
cases (text, tool calls, usage, a provider error, a stream cut short, a length stop, the
pipeline's own error event, and the plain answers) compare every byte with what the
translation wrote when the templates were introduced (``responses_bytes.json``), the random
ids and the stream's clock being the only parts replaced: ids by their order of first
appearance (so one id repeated stays one id, and two ids stay two), timestamps by 0.

Regenerate only for an intended change of output: ``python -m tests.proxy.dialects.test_responses_bytes``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import orjson

from proxy.adapters.openai_like import PassthroughStream
from proxy.dialects.openai_responses import ResponsesChatStream, responses_answer
from tests.support.servers import chat_completion, chat_stream, sse_event

GOLDEN = Path(__file__).with_name("responses_bytes.json")
ID = re.compile(rb"\b(resp|msg|fc|call)_[0-9A-Za-z]{24}\b")
CREATED_AT = re.compile(rb'"created_at":\d+')

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
# A request that sets every setting a Response repeats back.
FULL_REQUEST = {
    "model": "gpt-4o-mini",
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo? \u00e9\u2603"}]}],
    "instructions": "Be brief.",
    "max_output_tokens": 64,
    "metadata": {"team": "a"},
    "parallel_tool_calls": False,
    "temperature": 0.2,
    "top_p": 0.9,
    "tool_choice": "required",
    "tools": TOOLS,
    "text": {"format": {"type": "text"}},
    "truncation": "disabled",
    "stream": True,
}
PLAIN_REQUEST = {"model": "gpt-4o-mini", "input": "Hi", "max_output_tokens": 64, "stream": True}
BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o"}


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {**BASE, "choices": [], "usage": usage}


def _tool_chunks() -> list[Any]:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather"}}
    return [
        _delta({"role": "assistant", "content": "Let me check."}),
        _delta({"tool_calls": [call]}),
        _delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        _delta({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        _delta({"tool_calls": [{"index": 1, "type": "function", "function": {"name": "get_time"}}]}),
        _delta({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        _delta({"content": "Done."}),
        _delta({}, "tool_calls"),
        _usage(20, 9),
        "[DONE]",
    ]


# name → (request, chat chunks, bytes a read, how the pipeline ends it)
STREAMS: dict[str, tuple[dict[str, Any], list[Any], int | None, str]] = {
    "text with usage, every setting echoed": (
        FULL_REQUEST,
        chat_stream("gpt-4o", ["Hello", " \u00e9\u2603 ", '"quoted"\n', "."], usage=(12, 4)),
        None,
        "ending",
    ),
    "text without usage, cut in 7-byte reads": (
        PLAIN_REQUEST,
        chat_stream("gpt-4o", ["Bench", "marks ", "measure", "."], usage=None),
        7,
        "ending",
    ),
    "tool calls then text": ({**FULL_REQUEST, "parallel_tool_calls": True}, _tool_chunks(), None, "ending"),
    "length stop": (
        PLAIN_REQUEST,
        [_delta({"content": "Once upon"}), _delta({}, "length"), _usage(3, 2), "[DONE]"],
        None,
        "ending",
    ),
    "provider error mid-stream": (
        PLAIN_REQUEST,
        [_delta({"content": "Half"}), {"error": {"message": "overloaded", "type": "server_error"}}],
        None,
        "ending",
    ),
    "cut short, the pipeline's error event": (PLAIN_REQUEST, [_delta({"content": "Half"})], None, "cut"),
    "record unavailable at the end": (PLAIN_REQUEST, chat_stream("gpt-4o", ["Hi"]), None, "unrecorded"),
    "no chunk at all": (PLAIN_REQUEST, ["[DONE]"], None, "ending"),
}

ANSWERS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "answer with text": (FULL_REQUEST, chat_completion("gpt-4o", "Hello \u00e9\u2603", prompt=7, completion=3)),
    "answer with tool calls": (
        PLAIN_REQUEST,
        {
            **chat_completion("gpt-4o", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Checking.",
                        "tool_calls": [
                            {
                                "id": "call_9",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                            },
                            {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "UTC"}}},
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
        },
    ),
    "answer cut by length": (
        PLAIN_REQUEST,
        {
            **chat_completion("gpt-4o", "Once"),
            "choices": [{"index": 0, "message": {"content": "Once"}, "finish_reason": "length"}],
        },
    ),
}


def _stream_bytes(request: dict[str, Any], chunks: list[Any], split: int | None, end: str) -> bytes:
    """The whole stream as the pipeline writes it: each read's events, then the ending."""
    stream = ResponsesChatStream(PassthroughStream(prompt_chars=8), "gpt-4o", request)
    raw = b"".join(sse_event(None, chunk) for chunk in chunks)
    pieces = [raw[i : i + split] for i in range(0, len(raw), split)] if split else [raw]
    out = [b"".join(stream.feed(piece)) for piece in pieces]
    out.append(b"".join(stream.close()))
    failed = stream.error is not None
    if end == "cut" or not stream.complete:
        out.append(
            stream.error_event(502, "upstream_error", "the provider broke off", "upstream_stream_incomplete", "req_1")
        )
        failed = True
    if end == "unrecorded":
        out.append(stream.error_event(503, "record_unavailable", "not recorded", "record_unavailable", "req_1"))
    else:
        out.append(stream.ending(failed=failed))
    return b"|".join(out)


def _normalised(data: bytes) -> bytes:
    names: dict[bytes, bytes] = {}

    def name_of(found: re.Match[bytes]) -> bytes:
        return names.setdefault(found[0], b"%s_<%d>" % (found[1], len(names)))

    return CREATED_AT.sub(b'"created_at":0', ID.sub(name_of, data))


def outputs() -> dict[str, str]:
    """Every case's bytes, normalised, as text (the golden file is JSON)."""
    cases = {name: _stream_bytes(*case) for name, case in STREAMS.items()}
    for name, (request, completion) in ANSWERS.items():
        cases[name] = orjson.dumps(responses_answer(completion, "gpt-4o", request))
    return {name: _normalised(data).decode() for name, data in cases.items()}


def test_the_translation_writes_the_pinned_bytes():
    golden = json.loads(GOLDEN.read_text())
    produced = outputs()
    assert produced.keys() == golden.keys()
    for name, expected in golden.items():
        assert produced[name] == expected, name


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(outputs(), indent=1, ensure_ascii=False) + "\n")
    sys.stdout.write(f"wrote {GOLDEN}\n")
