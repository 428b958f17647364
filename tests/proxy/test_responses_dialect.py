"""The Responses dialect's pure translation (SPEC 3.9), checked against the openai SDK's own
types: answers validate as ``openai.types.responses.Response``, and streams are read by the
SDK's own stream state machine (the one behind ``client.responses.stream()``)."""

from __future__ import annotations

import copy
import json

import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from core.errors import GatewayError
from proxy.adapters.anthropic import AnthropicAdapter
from proxy.adapters.openai_like import AzureOpenAIAdapter, OpenAIAdapter, PassthroughStream
from proxy.config_snapshot import ProviderEntry
from proxy.dialects.openai_responses import (
    ResponsesChatStream,
    ResponsesDialect,
    ResponsesNativeStream,
    native_usage,
    responses_answer,
    responses_body_check,
    responses_chat_body,
    responses_native_body,
    responses_text_slots,
)
from tests.support.servers import chat_completion, chat_stream, sse_event

EVENTS = TypeAdapter(ResponseStreamEvent)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def body(**fields) -> dict:
    return {"model": "gpt-4o-mini", "input": "Hi", **fields}


def refusal(call, *args) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value


# --- the request ---------------------------------------------------------------------------


def test_it_reads_model_stream_and_prompt_characters():
    assert responses_body_check(body(instructions="Be brief", stream=True)) == ("gpt-4o-mini", True, 10)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("previous_response_id", "resp_abc"),
        ("conversation", "conv_abc"),
        ("background", True),
        ("prompt", {"id": "pmpt_abc"}),
    ],
)
def test_it_refuses_stateful_fields_on_every_path(name, value):
    error = refusal(responses_body_check, body(**{name: value}))
    assert error.reason == "unsupported_parameter"
    assert name in error.message


def test_it_accepts_stateful_fields_left_at_their_defaults():
    responses_body_check(body(previous_response_id=None, background=False, store=True))


@pytest.mark.parametrize(
    "value",
    [None, "", [], 5, [{"type": "message", "role": "robot", "content": "x"}], [{"role": "user", "content": 5}]],
)
def test_it_refuses_a_malformed_input(value):
    assert refusal(responses_body_check, body(input=value)).code == "invalid_request"


def test_it_refuses_hosted_tools_and_item_references():
    assert refusal(responses_body_check, body(tools=[{"type": "web_search"}])).reason == "unsupported_parameter"
    references = body(input=[{"type": "item_reference", "id": "msg_1"}])
    assert refusal(responses_body_check, references).reason == "unsupported_parameter"
    hosted = body(input=[{"type": "web_search_call", "id": "ws_1", "status": "completed"}])
    assert refusal(responses_body_check, hosted).reason == "unsupported_parameter"


def test_it_refuses_a_bad_model_name_and_max_output_tokens():
    assert refusal(responses_body_check, body(model="../etc")).reason == "invalid_model"
    assert refusal(responses_body_check, body(max_output_tokens=0)).code == "invalid_request"


def test_its_text_slots_cover_every_text_toward_the_model():
    request = body(
        instructions="SYS",
        input=[
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "U1"}, {"type": "input_image", "image_url": "x"}],
            },
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A1"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"q": "ARGS"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "OUT"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "THINK"}]},
        ],
        tools=[copy.deepcopy(WEATHER)],
    )
    texts = [container[key] for container, key in responses_text_slots(request)]
    assert texts == ["SYS", "U1", "A1", '{"q": "ARGS"}', "OUT", "THINK", "Weather in a city"]
    # Writable in place: redaction replaces through the slots.
    for container, key in responses_text_slots(request):
        container[key] = "X"
    assert request["instructions"] == "X"
    assert request["input"][3]["output"] == "X"


def test_its_text_slots_read_a_string_input():
    assert [c[k] for c, k in responses_text_slots(body(input="hello"))] == ["hello"]


def test_the_native_body_keeps_everything_but_the_model_and_store():
    sent = responses_native_body(body(store=True, include=["reasoning.encrypted_content"]), "gpt-4o-2024-08-06")
    assert sent == {
        "model": "gpt-4o-2024-08-06",
        "input": "Hi",
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }


# --- the chat form -------------------------------------------------------------------------


def test_the_chat_form_of_a_string_input_with_instructions():
    chat = responses_chat_body(
        body(instructions="Be brief", max_output_tokens=50, temperature=0.2, top_p=0.9, metadata={"a": "b"}, store=True)
    )
    assert chat == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "metadata": {"a": "b"},
        "max_completion_tokens": 50,
    }


def test_the_chat_form_of_items_parts_and_a_function_round_trip():
    chat = responses_chat_body(
        body(
            input=[
                {"role": "developer", "content": "Use tools"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Weather?"},
                        {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
                    ],
                },
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
                {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "cold"},
                {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "warm"}]},
            ],
            tools=[{**WEATHER, "strict": True}],
            tool_choice={"type": "function", "name": "get_weather"},
            parallel_tool_calls=False,
            stream=True,
        )
    )
    assert chat["messages"] == [
        {"role": "developer", "content": "Use tools"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
                {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "cold"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "warm"}]},
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["stream"] is True


def test_the_chat_form_is_what_a_translating_kind_reads():
    chat = responses_chat_body(
        body(
            instructions="Be brief",
            input=[
                {"role": "user", "content": "Weather in Oslo?"},
                {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "cold"},
            ],
            tools=[WEATHER],
            tool_choice="required",
            max_output_tokens=64,
        )
    )
    provider = ProviderEntry(
        id="prv_x",
        kind="anthropic",
        base_url="https://api.anthropic.test",
        api_key="k",
        models=(),
        timeout_seconds=5,
        extra_headers={},
        priority=0,
        api_version="",
        created_at=0,
    )
    sent = AnthropicAdapter().chat_request(provider, "claude-sonnet-4-5", chat).json
    assert sent["system"] == "Be brief"
    assert sent["max_tokens"] == 64
    assert sent["tool_choice"] == {"type": "any"}
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "c1",
        "name": "get_weather",
        "input": {"city": "Oslo"},
    }
    assert sent["messages"][2]["content"][0]["type"] == "tool_result"


def test_the_chat_form_carries_reasoning_effort_and_text_formats():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = responses_chat_body(
        body(
            reasoning={"effort": "low"},
            text={
                "format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True},
                "verbosity": "low",
            },
            include=["reasoning.encrypted_content"],
            truncation="disabled",
        )
    )
    assert chat["reasoning_effort"] == "low"
    assert chat["verbosity"] == "low"
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }
    assert "include" not in chat
    assert "truncation" not in chat
    assert "store" not in chat
    assert responses_chat_body(body(text={"format": {"type": "json_object"}}))["response_format"] == {
        "type": "json_object"
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"max_tool_calls": 2},
        {"top_logprobs": 3},
        {"truncation": "auto"},
        {"reasoning": {"summary": "auto"}},
        {"tool_choice": {"type": "web_search_preview"}},
        {"text": {"format": {"type": "grammar"}}},
        {"some_new_field": {"x": 1}},
        {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]},
    ],
)
def test_the_chat_form_refuses_what_it_cannot_carry(fields):
    request = body(**fields)
    responses_body_check(request)  # every path would take it: only the chat form refuses
    assert refusal(responses_chat_body, request).reason == "unsupported_parameter"


# --- the answer ----------------------------------------------------------------------------


def test_it_answers_a_completion_as_a_response_object():
    request = body(instructions="Be brief", metadata={"a": "b"}, temperature=0.5)
    completion = chat_completion("claude-x", "Hello there", prompt=11, completion=3)
    completion["usage"]["prompt_tokens_details"] = {"cached_tokens": 4}
    answer = Response.model_validate(responses_answer(completion, "claude-x", request))
    assert answer.id.startswith("resp_")
    assert answer.object == "response"
    assert answer.status == "completed"
    assert answer.model == "claude-x"
    assert answer.output_text == "Hello there"
    assert answer.output[0].type == "message"
    assert answer.output[0].id.startswith("msg_")
    assert answer.usage.input_tokens == 11
    assert answer.usage.output_tokens == 3
    assert answer.usage.total_tokens == 14
    assert answer.usage.input_tokens_details.cached_tokens == 4
    assert answer.instructions == "Be brief"
    assert answer.metadata == {"a": "b"}
    assert answer.temperature == 0.5
    assert answer.store is False


def test_it_answers_tool_calls_as_function_call_items():
    completion = chat_completion("gpt-4o")
    completion["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
        ],
    }
    completion["choices"][0]["finish_reason"] = "tool_calls"
    answer = Response.model_validate(responses_answer(completion, "gpt-4o", body(tools=[WEATHER])))
    assert answer.status == "completed"
    [call] = answer.output
    assert (call.type, call.call_id, call.name, call.arguments) == (
        "function_call",
        "call_1",
        "get_weather",
        '{"city":"Oslo"}',
    )
    assert call.id.startswith("fc_")
    assert answer.tools[0].name == "get_weather"


def test_it_answers_a_length_stop_as_incomplete():
    completion = chat_completion("gpt-4o", "cut sh")
    completion["choices"][0]["finish_reason"] = "length"
    answer = Response.model_validate(responses_answer(completion, "gpt-4o", body(max_output_tokens=2)))
    assert answer.status == "incomplete"
    assert answer.incomplete_details.reason == "max_output_tokens"
    assert answer.max_output_tokens == 2


def test_it_reads_native_usage():
    assert native_usage({"usage": {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}}).prompt_tokens == 7
    assert native_usage({"usage": None}) is None


# --- the stream ----------------------------------------------------------------------------


def sse(chunks: list) -> bytes:
    return b"".join(sse_event(None, chunk) for chunk in chunks)


def run_stream(
    chunks: list, split: int | None = None, request: dict | None = None
) -> tuple[list[dict], ResponsesChatStream]:
    """The translated events, as dicts, of a whole chat stream (fed in pieces of ``split``
    bytes), the way the pipeline drives a dialect stream: feed, close, then the ending."""
    stream = ResponsesChatStream(PassthroughStream(prompt_chars=8), "gpt-4o", request or body(stream=True))
    raw = sse(chunks)
    pieces = [raw[i : i + split] for i in range(0, len(raw), split)] if split else [raw]
    out = b"".join(b"".join(stream.feed(piece)) for piece in pieces)
    out += b"".join(stream.close())
    out += stream.ending(failed=not stream.complete or stream.error is not None)
    return parse_events(out), stream


def parse_events(raw: bytes) -> list[dict]:
    events = []
    for block in raw.decode().split("\n\n"):
        lines = block.strip().split("\n")
        if block.strip():
            assert lines[0] == f"event: {json.loads(lines[1][6:])['type']}"
            events.append(json.loads(lines[1][6:]))
    return events


def sdk_final_response(events: list[dict], tools: list | None = None) -> Response:
    """What ``client.responses.stream(...).get_final_response()`` returns for these events."""
    state = ResponseStreamState(input_tools=tools or omit, text_format=omit)
    for event in events:
        state.handle_event(EVENTS.validate_python(event))
    assert state._completed_response is not None
    return state._completed_response


def tool_call_chunks() -> list:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o"}

    def delta(d: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}

    return [
        delta({"role": "assistant", "content": "Let me check."}),
        delta({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather"}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        delta({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_time"}}]}),
        delta({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        delta({}, "tool_calls"),
        {**base, "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}},
        "[DONE]",
    ]


def test_it_streams_text_as_openai_typed_events_in_order():
    events, stream = run_stream(chat_stream("gpt-4o", ["Hello", " from", " upstream"]))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        EVENTS.validate_python(event)  # each one is a type the SDK knows
    assert events[7]["text"] == "Hello from upstream"
    final = sdk_final_response(events)
    assert final.output_text == "Hello from upstream"
    assert final.status == "completed"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 3)
    assert final.id == events[0]["response"]["id"]
    assert (stream.spent().prompt_tokens, stream.spent().completion_tokens) == (5, 3)


def test_it_streams_the_same_events_however_the_bytes_are_cut():
    whole, _ = run_stream(chat_stream("gpt-4o", ["Hello", " there"]))
    cut, _ = run_stream(chat_stream("gpt-4o", ["Hello", " there"]), split=7)
    strip = [{k: v for k, v in e.items() if k not in ("item_id", "item", "response")} for e in whole]
    assert strip == [{k: v for k, v in e.items() if k not in ("item_id", "item", "response")} for e in cut]


def test_it_streams_tool_calls_as_function_call_items():
    events, _ = run_stream(tool_call_chunks())
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = sdk_final_response(events)
    assert [item.type for item in final.output] == ["message", "function_call", "function_call"]
    assert (final.output[1].call_id, final.output[1].name, final.output[1].arguments) == (
        "call_1",
        "get_weather",
        '{"city":"Oslo"}',
    )
    assert final.output[2].call_id == "call_2"
    assert final.output[2].arguments == "{}"
    assert final.usage.total_tokens == 29


def test_every_snapshot_of_a_stream_repeats_the_requests_settings():
    settings = {
        "instructions": "Be brief",
        "tools": [WEATHER],
        "tool_choice": "required",
        "metadata": {"team": "blue"},
        "temperature": 0.3,
        "top_p": 0.9,
        "max_output_tokens": 50,
        "parallel_tool_calls": False,
    }
    events, _ = run_stream(tool_call_chunks(), request=body(stream=True, **settings))
    snapshots = [e["response"] for e in events if "response" in e]
    assert [e["type"] for e in events if "response" in e] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]
    for snapshot in snapshots:
        assert {name: snapshot[name] for name in settings} == settings
    final = sdk_final_response(events, tools=[WEATHER])
    assert (final.instructions, final.tool_choice, final.max_output_tokens) == ("Be brief", "required", 50)
    assert final.tools[0].name == "get_weather"


def test_it_ends_a_length_cut_stream_as_incomplete():
    chunks = chat_stream("gpt-4o", ["Hel"])
    chunks[-3]["choices"][0]["finish_reason"] = "length"
    events, _ = run_stream(chunks)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    Response.model_validate(events[-1]["response"])


def test_it_holds_back_the_completion_of_a_stream_that_stopped_short():
    chunks = chat_stream("gpt-4o", ["Hello", " there"], usage=None)[:3]  # no finish, no [DONE]
    events, stream = run_stream(chunks)
    assert not stream.complete
    assert [e["type"] for e in events][-1] == "response.output_text.delta"
    # What was relayed is paid for: at least the estimate of its text.
    assert stream.spent().completion_tokens == 3


def test_it_turns_a_provider_error_into_an_error_event_the_sdk_raises():
    chunks = [*chat_stream("gpt-4o", ["Hi"], usage=None)[:2], {"error": {"message": "overloaded", "type": "api_error"}}]
    events, stream = run_stream(chunks)
    assert stream.error == "overloaded"
    assert not stream.complete
    error = events[-1]
    assert error["type"] == "error"
    assert error["message"] == "overloaded"
    assert error["error"]["code"] == "upstream_error"
    assert error["error"]["type"] == "api_error"
    EVENTS.validate_python(error)


def test_its_own_error_event_carries_the_spec_envelope_and_the_next_sequence_number():
    stream = ResponsesChatStream(PassthroughStream(prompt_chars=8), "gpt-4o", body(stream=True))
    relayed = parse_events(b"".join(stream.feed(sse(chat_stream("gpt-4o", ["Hi", " there"], usage=None)[:3]))))
    raw = stream.error_event(502, "upstream_error", "it broke", "upstream_stream_interrupted", "req_abc")
    [event] = parse_events(raw)
    assert [e["sequence_number"] for e in [*relayed, event]] == list(range(len(relayed) + 1))
    assert event["error"] == {
        "code": "upstream_error",
        "reason": "upstream_stream_interrupted",
        "message": "it broke",
        "type": "api_error",
        "request_id": "req_abc",
    }
    EVENTS.validate_python(event)


# --- the native path -----------------------------------------------------------------------


def provider_of(kind: str, base_url: str, **fields) -> ProviderEntry:
    values = {
        "id": "prv_x",
        "kind": kind,
        "base_url": base_url,
        "api_key": "k",
        "models": (),
        "timeout_seconds": 5,
        "extra_headers": {},
        "priority": 0,
        "api_version": "",
        "created_at": 0,
    }
    return ProviderEntry(**{**values, **fields})


def test_the_native_request_goes_to_the_responses_api_of_each_kind():
    dialect = ResponsesDialect()
    openai_call = dialect.native_request(
        OpenAIAdapter(), provider_of("openai", "https://api.test/v1", extra_headers={"X-Org": "o"}), "gpt-4o", body()
    )
    assert openai_call.url == "https://api.test/v1/responses"
    assert openai_call.headers["Authorization"] == "Bearer k"
    assert openai_call.headers["X-Org"] == "o"
    assert openai_call.json == {"model": "gpt-4o", "input": "Hi", "store": False}
    for base in (
        "https://r.openai.azure.com",
        "https://r.openai.azure.com/openai",
        "https://r.openai.azure.com/openai/v1",
    ):
        azure_call = dialect.native_request(
            AzureOpenAIAdapter(), provider_of("azure_openai", base), "my-deploy", body()
        )
        assert azure_call.url == "https://r.openai.azure.com/openai/v1/responses"
        assert azure_call.headers["api-key"] == "k"
        assert azure_call.json["model"] == "my-deploy"


def native_response(text: str = "Hi there", status: str = "completed") -> Response:
    return Response.model_validate(
        {
            "id": "resp_native1",
            "object": "response",
            "created_at": 1700000000,
            "status": status,
            "model": "gpt-4o",
            "output": [
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 9,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": 2,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 11,
            },
        }
    )


def test_the_native_answer_goes_out_as_it_came_with_its_usage():
    payload = native_response().model_dump(mode="json")
    answer, usage = ResponsesDialect().native_answer(payload, "gpt-4o")
    assert answer is payload
    assert (usage.prompt_tokens, usage.completion_tokens) == (9, 2)
    with pytest.raises(ValueError, match="Response"):
        ResponsesDialect().native_answer({"choices": []}, "gpt-4o")


def native_events(final: Response) -> list[dict]:
    in_progress = final.model_dump(mode="json") | {"status": "in_progress", "output": [], "usage": None}
    item = final.output[0].model_dump(mode="json")
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    return [
        {"type": "response.created", "response": in_progress},
        {"type": "response.output_item.added", "output_index": 0, "item": item | {"content": []}},
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {"type": "response.output_text.delta", **where, "delta": "Hi there", "logprobs": []},
        {"type": "response.output_text.done", **where, "text": "Hi there", "logprobs": []},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": final.model_dump(mode="json")},
    ]


def native_sse(events: list[dict]) -> bytes:
    return b"".join(
        sse_event(e["type"], {**e, "sequence_number": n}).replace(b"\n", b"\r\n") for n, e in enumerate(events)
    )


def test_the_native_stream_holds_back_its_terminal_event_until_the_ending():
    stream = ResponsesNativeStream(prompt_chars=40)
    raw = native_sse(native_events(native_response()))
    relayed = b"".join(b"".join(stream.feed(raw[i : i + 13])) for i in range(0, len(raw), 13))
    relayed += b"".join(stream.close())
    assert b"response.completed" not in relayed
    assert stream.complete
    assert (stream.spent().prompt_tokens, stream.spent().completion_tokens) == (9, 2)
    ending = stream.ending(failed=False)
    assert ending.startswith(b"event: response.completed")
    final = sdk_final_response(parse_events(relayed + ending))
    assert final.output_text == "Hi there"
    assert stream.ending(failed=True) == b""


def test_the_native_stream_estimates_what_it_relayed_when_it_stops_short():
    stream = ResponsesNativeStream(prompt_chars=40)
    stream.feed(native_sse(native_events(native_response("x" * 40))[:4]))
    assert not stream.complete
    assert (stream.spent().prompt_tokens, stream.spent().completion_tokens) == (10, 2)


def test_the_native_stream_relays_a_failure_and_drops_what_no_sdk_reads():
    stream = ResponsesNativeStream(prompt_chars=4)
    failed = native_response().model_dump(mode="json") | {"status": "failed", "error": {"code": "x", "message": "boom"}}
    raw = b": keep-alive\n\n" + b"data: not json\n\n" + native_sse([{"type": "response.failed", "response": failed}])
    relayed = b"".join(stream.feed(raw))
    assert relayed.startswith(b": keep-alive\n\n")
    assert b"not json" not in relayed
    assert b"response.failed" in relayed
    assert stream.error == "boom"
    assert not stream.complete


def test_the_native_streams_own_error_event_follows_the_last_event_relayed():
    stream = ResponsesNativeStream(prompt_chars=40)
    relayed = parse_events(b"".join(stream.feed(native_sse(native_events(native_response())[:4]))))
    [event] = parse_events(stream.error_event(502, "upstream_error", "cut", "upstream_stream_incomplete", "req_a"))
    assert [e["sequence_number"] for e in relayed] == [0, 1, 2, 3]
    assert event["sequence_number"] == 4
    assert event["error"]["reason"] == "upstream_stream_incomplete"
    EVENTS.validate_python(event)


def test_the_native_streams_own_error_event_ignores_an_absurd_upstream_number():
    stream = ResponsesNativeStream(prompt_chars=4)
    stream.feed(sse_event("response.created", {**native_events(native_response())[0], "sequence_number": 2**64}))
    [event] = parse_events(stream.error_event(502, "upstream_error", "cut", "upstream_stream_incomplete", None))
    assert event["sequence_number"] == 0
