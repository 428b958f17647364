"""The ``anthropic`` kind through the official openai SDK, against a fake Messages API whose
answers and stream events are built from the anthropic SDK's own models."""

from __future__ import annotations

import anthropic.types as at
import openai
import pytest

from forensics.models import RequestLog
from tests.providers.conftest import PROVIDER_SECRET, provider_for, stream_text, stream_tool_calls
from tests.support.live_fixtures import stream_then_drop, streamed_text

MODEL = "claude-sonnet-4-5"
PATH = "/v1/messages"
PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _dump(model) -> dict:
    return model.model_dump(mode="json", exclude_none=True)


def message(content: list, stop_reason: str = "end_turn", usage: at.Usage | None = None) -> dict:
    return _dump(
        at.Message(
            id="msg_01abc",
            type="message",
            role="assistant",
            model=MODEL,
            content=content,
            stop_reason=stop_reason,
            stop_sequence=None,
            usage=usage or at.Usage(input_tokens=12, output_tokens=7),
        )
    )


def text_block(text: str) -> at.TextBlock:
    return at.TextBlock(type="text", text=text)


def tool_block(call_id: str, name: str, arguments: dict) -> at.ToolUseBlock:
    return at.ToolUseBlock(type="tool_use", id=call_id, name=name, input=arguments)


def stream_events(blocks: list[tuple[str, list[str], dict]], stop_reason: str = "end_turn") -> list[tuple[str, dict]]:
    """Events of one streamed message: each block is (type, fragments, start fields)."""
    start = at.Message(
        id="msg_01stream",
        type="message",
        role="assistant",
        model=MODEL,
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=at.Usage(input_tokens=20, output_tokens=1, cache_read_input_tokens=5),
    )
    # Anthropic sends a ping right after message_start; the SDK has no model for it.
    events = [("message_start", at.RawMessageStartEvent(type="message_start", message=start)), ("ping", None)]
    for index, (kind, fragments, fields) in enumerate(blocks):
        block = text_block("") if kind == "text" else tool_block(fields["id"], fields["name"], {})
        events.append(
            (
                "content_block_start",
                at.RawContentBlockStartEvent(type="content_block_start", index=index, content_block=block),
            )
        )
        for fragment in fragments:
            delta = (
                at.TextDelta(type="text_delta", text=fragment)
                if kind == "text"
                else at.InputJSONDelta(type="input_json_delta", partial_json=fragment)
            )
            events.append(
                (
                    "content_block_delta",
                    at.RawContentBlockDeltaEvent(type="content_block_delta", index=index, delta=delta),
                )
            )
        events.append(("content_block_stop", at.RawContentBlockStopEvent(type="content_block_stop", index=index)))
    events.append(
        (
            "message_delta",
            at.RawMessageDeltaEvent(
                type="message_delta",
                delta={"stop_reason": stop_reason, "stop_sequence": None},
                usage=at.MessageDeltaUsage(output_tokens=9),
            ),
        )
    )
    events.append(("message_stop", at.RawMessageStopEvent(type="message_stop")))
    return [(name, {"type": "ping"} if event is None else _dump(event)) for name, event in events]


@pytest.fixture
def claude(world):
    return provider_for(world, "anthropic")


def answer_with(world, payload: dict, status: int = 200) -> None:
    world.upstream.behaviour[PATH] = lambda seen: {"status": status, "json": payload}


def stream_with(world, events: list[tuple[str, dict]]) -> None:
    world.upstream.behaviour[PATH] = lambda seen: {"events": events}


def chat(world, **kwargs):
    kwargs.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return world.sdk().chat.completions.create(model=MODEL, **kwargs)


REQUEST_MATRIX = [
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi"},
            ]
        },
        {
            "system": "Be brief.\n\nAnswer in French.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "max_tokens": 4096,
        },
        id="system-and-developer-hoisted-default-max-tokens",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "How are you?"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
                {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
            ]
        },
        id="multi-turn",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image_url", "image_url": {"url": PNG}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                    ],
                }
            ]
        },
        id="images-data-url-and-https",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": "required"},
        {
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "input_schema": WEATHER_TOOL["function"]["parameters"],
                }
            ],
            "tool_choice": {"type": "any"},
        },
        id="tools-required",
    ),
    pytest.param(
        {
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": False,
        },
        {"tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}},
        id="named-tool-without-parallel-calls",
    ),
    pytest.param(
        {
            "tools": [WEATHER_TOOL],
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "toolu_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "24C"},
            ],
        },
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24C"},
                    ],
                },
            ]
        },
        id="parallel-tool-calls-and-results-in-history",
    ),
    pytest.param(
        {"response_format": {"type": "json_object"}},
        {"system": "Respond with a single valid JSON object and nothing else."},
        id="json-object-approximated-by-instruction",
    ),
    pytest.param(
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "city",
                    "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
            }
        },
        {
            "output_config": {
                "format": {
                    "type": "json_schema",
                    "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
                }
            }
        },
        id="json-schema",
    ),
    pytest.param(
        {"temperature": 0.2, "top_p": 0.9, "stop": ["END"], "max_completion_tokens": 100, "user": "user-42"},
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "max_tokens": 100,
            "metadata": {"user_id": "user-42"},
        },
        id="sampling-stop-max-tokens-user",
    ),
]


@pytest.mark.parametrize(("request_fields", "expected"), REQUEST_MATRIX)
def test_it_translates_the_request_body(world, claude, request_fields, expected):
    answer_with(world, message([text_block("ok")]))
    chat(world, **request_fields)
    sent = world.upstream.last()
    assert sent.path == PATH
    assert sent.json["model"] == MODEL
    assert {name: sent.json.get(name) for name in expected} == expected


def test_it_sends_the_provider_key_and_version_not_the_clients_credential(world, claude):
    answer_with(world, message([text_block("ok")]))
    chat(world)
    headers = {k.lower(): v for k, v in world.upstream.last().headers.items()}
    assert headers["x-api-key"] == PROVIDER_SECRET
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert headers["x-request-id"].startswith("req_")


def test_it_sends_the_providers_own_api_version(world):
    provider_for(world, "anthropic", api_version="2024-01-01")
    answer_with(world, message([text_block("ok")]))
    chat(world)
    assert world.upstream.last().headers["anthropic-version"] == "2024-01-01"


def test_it_answers_text_with_usage_including_cached_tokens(world, claude):
    usage = at.Usage(input_tokens=12, output_tokens=7, cache_read_input_tokens=30, cache_creation_input_tokens=5)
    answer_with(world, message([text_block("Bonjour"), text_block(" !")], usage=usage))
    result = chat(world)
    assert result.choices[0].message.content == "Bonjour !"
    assert result.choices[0].finish_reason == "stop"
    assert result.id == "chatcmpl-msg_01abc"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (47, 7, 54)
    assert result.usage.prompt_tokens_details.cached_tokens == 30
    record = RequestLog.objects.get()
    assert (record.prompt_tokens, record.completion_tokens) == (47, 7)


def test_it_answers_parallel_tool_calls_with_json_string_arguments(world, claude):
    answer_with(
        world,
        message(
            [
                text_block("Checking both."),
                tool_block("toolu_1", "get_weather", {"city": "Paris"}),
                tool_block("toolu_2", "get_weather", {"city": "Rome"}),
            ],
            stop_reason="tool_use",
        ),
    )
    result = chat(world, tools=[WEATHER_TOOL])
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking both."
    calls = choice.message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("toolu_1", "get_weather", '{"city":"Paris"}'),
        ("toolu_2", "get_weather", '{"city":"Rome"}'),
    ]


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter")],
)
def test_it_maps_the_stop_reason(world, claude, stop_reason, finish_reason):
    answer_with(world, message([text_block("x")], stop_reason=stop_reason))
    assert chat(world).choices[0].finish_reason == finish_reason


def test_it_streams_text_with_a_final_usage_chunk(world, claude):
    stream_with(world, stream_events([("text", ["Hel", "lo", " there"], {})]))
    chunks = list(chat(world, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (25, 9)
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 5
    assert world.upstream.last().json["stream"] is True


def test_it_records_the_streamed_usage(world, claude):
    stream_with(world, stream_events([("text", ["Hi"], {})]))
    list(chat(world, stream=True))
    record = RequestLog.objects.get()
    assert record.stream is True
    assert (record.prompt_tokens, record.completion_tokens) == (25, 9)


def test_it_counts_the_text_a_stream_left_midway_had_sent_not_message_starts_output_tokens(world, claude):
    # message_start reports input tokens and "1" output token; the real count comes at the end,
    # which a client that leaves first never lets arrive.
    events = stream_events([("text", [" wxyz"] * 200, {})])
    world.upstream.behaviour[PATH] = lambda seen: {"events": events, "chunk_delay": 0.02}
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}

    dropped = stream_then_drop(world, body, until=lambda chunks: len(streamed_text(chunks)) >= 80)

    record = RequestLog.objects.get(id=dropped.request_id)
    assert (record.status_code, record.error_reason) == (200, "client_disconnected")
    assert record.prompt_tokens == 25  # reported by message_start (input + cache reads)
    assert len(dropped.text) / 4 <= record.completion_tokens < 250


def test_it_streams_tool_calls_with_argument_deltas(world, claude):
    events = stream_events(
        [
            ("text", ["Let me check."], {}),
            ("tool_use", ['{"ci', 'ty": "Paris"}'], {"id": "toolu_a", "name": "get_weather"}),
            ("tool_use", ['{"city": ', '"Rome"}'], {"id": "toolu_b", "name": "get_weather"}),
        ],
        stop_reason="tool_use",
    )
    stream_with(world, events)
    calls, finish = stream_tool_calls(chat(world, stream=True, tools=[WEATHER_TOOL]))
    assert calls == {
        0: {"id": "toolu_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "toolu_b", "name": "get_weather", "arguments": '{"city": "Rome"}'},
    }
    assert finish == "tool_calls"


def test_it_ends_the_stream_with_an_error_chunk_on_an_error_event(world, claude):
    events = stream_events([("text", ["Partial"], {})])[:4]
    error = at.ErrorResponse(type="error", error=at.OverloadedError(type="overloaded_error", message="Overloaded"))
    stream_with(world, [*events, ("error", _dump(error))])
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        stream_text(chat(world, stream=True), received)
    assert "".join(received) == "Partial"
    assert "Overloaded" in caught.value.message
    assert caught.value.body["code"] == "upstream_error"


def test_it_ends_a_stream_cut_short_with_an_error_chunk(world, claude):
    stream_with(world, stream_events([("text", ["Partial"], {})])[:4])
    with pytest.raises(openai.APIError) as caught:
        list(chat(world, stream=True))
    assert "ended before it finished" in caught.value.message


def test_it_passes_an_upstream_client_error_with_its_message(world, claude):
    error = at.ErrorResponse(
        type="error", error=at.InvalidRequestError(type="invalid_request_error", message="prompt is too long")
    )
    answer_with(world, _dump(error), status=400)
    with pytest.raises(openai.BadRequestError) as caught:
        chat(world)
    assert caught.value.body["code"] == "upstream_error"
    assert caught.value.body["message"] == "prompt is too long"


def test_it_raises_rate_limit_error_when_anthropic_is_rate_limited(world, claude):
    error = at.ErrorResponse(type="error", error=at.RateLimitError(type="rate_limit_error", message="slow down"))
    answer_with(world, _dump(error), status=429)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(world)
    assert caught.value.body["reason"] == "upstream_rate_limited"


@pytest.mark.parametrize("status", [500, 529])
def test_it_raises_internal_server_error_when_anthropic_fails(world, claude, status):
    error = at.ErrorResponse(type="error", error=at.OverloadedError(type="overloaded_error", message="Overloaded"))
    answer_with(world, _dump(error), status=status)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(world)
    assert caught.value.status_code == 502
    assert "Overloaded" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 2), ("logit_bias", {"50256": -100}), ("presence_penalty", 0.5), ("functions", [{"name": "f"}])],
)
def test_it_refuses_a_field_anthropic_cannot_honour(world, claude, field, value):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(world, extra_body={field: value})
    assert caught.value.body["code"] == "invalid_request"
    assert caught.value.body["reason"] == "unsupported_parameter"
    assert field in caught.value.body["message"]
    assert world.upstream.requests == []


def test_it_refuses_embeddings(world, claude):
    with pytest.raises(openai.BadRequestError) as caught:
        world.sdk().embeddings.create(model=MODEL, input="hello")
    assert caught.value.body["reason"] == "unsupported_parameter"
