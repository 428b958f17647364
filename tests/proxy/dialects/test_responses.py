"""``POST /v1/responses`` (SPEC 3.9) through the official openai SDK against the real gateway:
natively to an ``openai`` provider (a fake Responses API), and through the chat form to the
``mock`` and ``anthropic`` kinds."""

from __future__ import annotations

import json
import time

import anthropic.types as at
import openai
import pytest

from apps.services import guardrails_put
from core.actors import SYSTEM
from forensics.models import RequestLog
from tests import factories
from tests.providers.conftest import provider_for
from tests.support.live_fixtures import stream_then_drop
from tests.support.servers import chat_stream

CLAUDE = "claude-sonnet-4-5"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def kinds(world):
    """Besides the world's ``openai`` provider (native): ``mock`` and ``anthropic`` (the chat form)."""
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    provider_for(world, "anthropic")
    return world


def record_of(request_id: str) -> RequestLog:
    deadline = time.monotonic() + 5
    while not (found := RequestLog.objects.filter(id=request_id).first()):
        assert time.monotonic() < deadline, "no record"
        time.sleep(0.02)
    return found


def last_record() -> RequestLog:
    return RequestLog.objects.order_by("-created_at").first()


# --- a fake native Responses API -----------------------------------------------------------


def native_usage(prompt: int = 9, completion: int = 2) -> dict:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def native_response(output: list[dict], status: str = "completed", usage: dict | None = None) -> dict:
    return {
        "id": "resp_native1",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": "gpt-4o-2024-08-06",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": False,
        "usage": usage,
    }


def text_item(text: str) -> dict:
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {"id": "msg_n1", "type": "message", "role": "assistant", "status": "completed", "content": content}


def call_item(call_id: str, arguments: str) -> dict:
    return {
        "id": "fc_n1",
        "type": "function_call",
        "call_id": call_id,
        "name": "get_weather",
        "arguments": arguments,
        "status": "completed",
    }


def native_events(words: list[str], usage: dict | None = None) -> list[tuple[str, dict]]:
    text = "".join(words)
    final = native_response([text_item(text)], usage=usage or native_usage())
    where = {"item_id": "msg_n1", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": {**final, "status": "in_progress", "output": [], "usage": None}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**text_item(""), "content": []}},
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        *({"type": "response.output_text.delta", **where, "delta": w, "logprobs": []} for w in words),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.output_item.done", "output_index": 0, "item": text_item(text)},
        {"type": "response.completed", "response": final},
    ]
    return [(e["type"], {**e, "sequence_number": n}) for n, e in enumerate(events)]


def native_answers(world, *answers: dict) -> None:
    """The fake Responses API answers these, one per request, in order."""
    pending = list(answers)
    world.upstream.behaviour["/v1/responses"] = lambda seen: pending.pop(0)


# --- native: openai ------------------------------------------------------------------------


def test_it_sends_the_body_natively_to_openai_with_store_off(world):
    native_answers(world, {"json": native_response([text_item("Hi there")], usage=native_usage())})
    answer = world.sdk().responses.create(model="gpt-4o", input="Hi", instructions="Be brief", store=True)
    assert answer.output_text == "Hi there"
    sent = world.upstream.last()
    assert sent.path == "/v1/responses"
    assert sent.json == {"model": "gpt-4o", "input": "Hi", "instructions": "Be brief", "store": False}
    record = last_record()
    assert (record.endpoint, record.status_code, record.stream) == ("responses", 200, False)
    assert (record.prompt_tokens, record.completion_tokens) == (9, 2)
    assert record.provider_id == world.provider.id


def test_it_streams_natively_to_the_sdks_stream_helper(world):
    native_answers(world, {"events": native_events(["Hello", " there"], native_usage(12, 5))})
    with world.sdk().responses.stream(model="gpt-4o", input="Hi") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Hello", " there"]
    assert final.output_text == "Hello there"
    assert final.usage.total_tokens == 17
    assert world.upstream.last().json["stream"] is True
    record = last_record()
    assert (record.endpoint, record.stream, record.prompt_tokens, record.completion_tokens) == (
        "responses",
        True,
        12,
        5,
    )


def test_it_round_trips_a_function_call_natively(world):
    native_answers(
        world,
        {"json": native_response([call_item("call_n1", '{"city":"Oslo"}')], usage=native_usage())},
        {"json": native_response([text_item("Cold in Oslo")], usage=native_usage())},
    )
    client = world.sdk()
    first = client.responses.create(model="gpt-4o", input="Weather in Oslo?", tools=[WEATHER])
    [call] = first.output
    assert (call.type, call.call_id, call.arguments) == ("function_call", "call_n1", '{"city":"Oslo"}')
    history = [{"role": "user", "content": "Weather in Oslo?"}, call.model_dump(exclude_none=True)]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "-3 C"}
    second = client.responses.create(model="gpt-4o", input=[*history, output], tools=[WEATHER])
    assert second.output_text == "Cold in Oslo"
    assert world.upstream.last().json["input"][-1] == output


def test_it_records_a_native_stream_the_client_abandoned(world):
    native_answers(world, {"events": native_events(["a", "b", "c", "d", "e", "f"]), "chunk_delay": 0.2})
    dropped = stream_then_drop(
        world,
        {"model": "gpt-4o", "input": "Hi", "stream": True},
        until=lambda events: any(e["type"] == "response.output_text.delta" for e in events),
        path="/v1/responses",
    )
    assert all(e["type"] != "response.completed" for e in dropped.chunks)
    record = record_of(dropped.request_id)
    assert (record.endpoint, record.status_code, record.error_reason) == ("responses", 200, "client_disconnected")
    assert record.completion_tokens >= 1  # what was relayed is counted


# --- the chat form: mock and anthropic -----------------------------------------------------


def test_it_answers_through_the_chat_form_of_the_mock_kind(kinds):
    answer = kinds.sdk().responses.create(model="mock-1", input="Hello there", instructions="Be brief")
    assert answer.output_text == "Mock answer to: Hello there"
    assert answer.status == "completed"
    assert answer.usage.output_tokens > 0
    record = last_record()
    assert (record.endpoint, record.model_requested, record.status_code) == ("responses", "mock-1", 200)
    assert record.completion_tokens == answer.usage.output_tokens


def test_it_streams_the_chat_form_to_the_sdks_stream_helper(kinds):
    with kinds.sdk().responses.stream(model="mock-1", input="Hello there") as stream:
        text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == "Mock answer to: Hello there"
    assert final.usage.output_tokens > 0
    assert last_record().stream is True


def anthropic_tool_answer(call_id: str) -> dict:
    message = at.Message(
        id="msg_01",
        type="message",
        role="assistant",
        model=CLAUDE,
        content=[at.ToolUseBlock(type="tool_use", id=call_id, name="get_weather", input={"city": "Oslo"})],
        stop_reason="tool_use",
        stop_sequence=None,
        usage=at.Usage(input_tokens=30, output_tokens=8),
    )
    return message.model_dump(mode="json", exclude_none=True)


def anthropic_text_answer(text: str) -> dict:
    message = at.Message(
        id="msg_02",
        type="message",
        role="assistant",
        model=CLAUDE,
        content=[at.TextBlock(type="text", text=text)],
        stop_reason="end_turn",
        stop_sequence=None,
        usage=at.Usage(input_tokens=40, output_tokens=4),
    )
    return message.model_dump(mode="json", exclude_none=True)


def function_round_trip(client: openai.OpenAI, model: str) -> tuple:
    """A function call, then its output sent back with the whole conversation (no stored state)."""
    first = client.responses.create(model=model, input="Weather in Oslo?", tools=[WEATHER])
    [call] = [item for item in first.output if item.type == "function_call"]
    history = [{"role": "user", "content": "Weather in Oslo?"}, call.model_dump(exclude_none=True)]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "-3 C"}
    second = client.responses.create(model=model, input=[*history, output], tools=[WEATHER])
    return call, second


def anthropic_answers(world, *answers: dict) -> None:
    pending = list(answers)
    world.upstream.behaviour["/v1/messages"] = lambda seen: {"json": pending.pop(0)}


def test_it_round_trips_a_function_call_through_anthropic(kinds):
    anthropic_answers(kinds, anthropic_tool_answer("toolu_01"), anthropic_text_answer("Cold in Oslo"))
    call, second = function_round_trip(kinds.sdk(), CLAUDE)
    assert (call.call_id, call.name, call.arguments) == ("toolu_01", "get_weather", '{"city":"Oslo"}')
    assert second.output_text == "Cold in Oslo"
    sent = kinds.upstream.last().json
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"
    assert sent["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_01", "content": "-3 C"}
    record = last_record()
    assert (record.endpoint, record.prompt_tokens, record.completion_tokens) == ("responses", 40, 4)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-4o", "mock-1", CLAUDE])
def test_it_refuses_previous_response_id_on_every_kind(kinds, model):
    with pytest.raises(openai.BadRequestError) as caught:
        kinds.sdk().responses.create(model=model, input="Hi", previous_response_id="resp_abc")
    assert caught.value.body["code"] == "invalid_request"
    assert caught.value.body["reason"] == "unsupported_parameter"
    assert kinds.upstream.requests == []
    record = record_of(caught.value.response.headers["x-request-id"])
    assert (record.endpoint, record.status_code, record.error_reason) == ("responses", 400, "unsupported_parameter")


def test_it_refuses_what_the_chat_form_cannot_carry_before_sending(kinds):
    with pytest.raises(openai.BadRequestError) as caught:
        kinds.sdk().responses.create(model=CLAUDE, input="Hi", reasoning={"summary": "auto"})
    assert caught.value.body["reason"] == "unsupported_parameter"
    assert "reasoning.summary" in caught.value.body["message"]
    assert kinds.upstream.requests == []


def test_it_refuses_the_responses_endpoint_where_chat_is_not_allowed(kinds):
    factories.make_policy(kinds.tenant, tenant_wide=True, allowed_endpoints=["embeddings"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        kinds.sdk().responses.create(model="mock-1", input="Hi")
    assert caught.value.body["reason"] == "endpoint_not_allowed"
    assert last_record().endpoint == "responses"


def test_it_refuses_a_key_without_the_chat_scope(kinds):
    _, secret = factories.make_key(kinds.agent, scopes=["embeddings"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        kinds.sdk(api_key=secret).responses.create(model="mock-1", input="Hi")
    assert caught.value.body["reason"] == "scope_missing"


# --- guardrails ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": "about project zeus"}]}]},
        {"input": "Hi", "instructions": "Mention Project Zeus"},
        {"input": [{"type": "function_call_output", "call_id": "c1", "output": "project zeus"}]},
    ],
)
def test_it_blocks_a_pattern_in_input_and_instructions(world, fields):
    guardrails_put(app=world.app, actor=SYSTEM, data={"blocked_patterns": [{"name": "zeus", "pattern": r"(?i)zeus"}]})
    with pytest.raises(openai.BadRequestError) as caught:
        world.sdk().responses.create(model="gpt-4o", **fields)
    assert (caught.value.body["code"], caught.value.body["reason"]) == ("guardrail_violation", "zeus")
    assert world.upstream.requests == []


def test_it_redacts_personal_data_before_the_native_body_leaves(world):
    guardrails_put(app=world.app, actor=SYSTEM, data={"pii": "redact"})
    native_answers(world, {"json": native_response([text_item("ok")], usage=native_usage())})
    world.sdk().responses.create(model="gpt-4o", input="Mail ann@example.com", instructions="Call +14155550123")
    sent = world.upstream.last().json
    assert sent["input"] == "Mail [REDACTED:email]"
    assert sent["instructions"] == "Call [REDACTED:phone]"


# --- the settings a translated Response repeats back ---------------------------------------

ECHOED = {
    "instructions": "Be brief",
    "tools": [WEATHER],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "metadata": {"team": "blue"},
    "temperature": 0.3,
    "top_p": 0.9,
    "max_output_tokens": 50,
    "parallel_tool_calls": False,
}


def echoed(response) -> dict:
    return response.model_dump(mode="json", include=set(ECHOED), exclude_none=True)


def test_a_translated_answer_repeats_the_requests_settings(kinds):
    answer = kinds.sdk().responses.create(model="mock-1", input="Hi", **ECHOED)
    assert echoed(answer) == ECHOED
    assert answer.store is False


def test_every_snapshot_of_a_translated_stream_repeats_the_requests_settings(kinds):
    with kinds.sdk().responses.stream(model="mock-1", input="Hi", **ECHOED) as stream:
        snapshots = [event.response for event in stream if event.type in ("response.created", "response.in_progress")]
        final = stream.get_final_response()
    assert [echoed(snapshot) for snapshot in [*snapshots, final]] == [ECHOED] * 3


def test_a_translated_answer_repeats_the_settings_as_redacted(kinds):
    guardrails_put(app=kinds.app, actor=SYSTEM, data={"pii": "redact"})
    answer = kinds.sdk().responses.create(model="mock-1", input="Hi", instructions="Call +14155550123")
    assert answer.instructions == "Call [REDACTED:phone]"


# --- the pipeline's own error event continues the stream's numbering -----------------------


def raw_events(world, body: dict) -> list[dict]:
    """The events of a stream as they went out (the SDK reads no ``sequence_number``)."""
    with (
        world.http(**{"X-API-Key": world.secret}) as client,
        client.stream("POST", "/v1/responses", json={**body, "stream": True}) as response,
    ):
        assert response.status_code == 200, response.read()
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def test_the_error_event_of_a_cut_chat_form_stream_continues_its_sequence(kinds):
    factories.make_provider(
        kinds.tenant, kind="openai_compatible", base_url=kinds.upstream.url + "/compat/v1", models=["compat-*"]
    )
    cut = chat_stream("compat-1", ["Hel", "lo"], usage=None)[:3]  # no finish reason, no [DONE]
    kinds.upstream.behaviour["/compat/v1/chat/completions"] = lambda seen: {"stream": cut}
    events = raw_events(kinds, {"model": "compat-1", "input": "Hi"})
    assert [e["type"] for e in events][-2:] == ["response.output_text.delta", "error"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["error"]["reason"] == "upstream_stream_incomplete"
    assert last_record().error_reason == "upstream_stream_incomplete"


def test_the_error_event_of_a_cut_native_stream_continues_its_sequence(world):
    native_answers(world, {"events": native_events(["Hello", " there"])[:5]})
    events = raw_events(world, {"model": "gpt-4o", "input": "Hi"})
    assert [e["type"] for e in events][-2:] == ["response.output_text.delta", "error"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["error"]["reason"] == "upstream_stream_incomplete"
