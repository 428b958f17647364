"""``POST /v1/messages`` (SPEC 3.8) through the official anthropic SDK against the real gateway:
natively to an ``anthropic`` provider, translated through the chat form to an ``openai`` one.

The fake Messages API answers with payloads built from the anthropic SDK's own models
(``tests/providers/test_anthropic.py``); the fake OpenAI API with chat completions."""

from __future__ import annotations

import json
import time

import anthropic
import anthropic.types as at
import pytest

from apps.services import guardrails_put
from core.actors import SYSTEM
from forensics.models import RequestLog
from tests import factories
from tests.providers.conftest import PROVIDER_SECRET, provider_for
from tests.providers.test_anthropic import message, stream_events, text_block, tool_block
from tests.support.servers import chat_completion, chat_stream

CLAUDE = "claude-sonnet-4-5"
GPT = "gpt-4o-mini"
MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
PNG = "iVBORw0KGgo="
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
KINDS = ["anthropic", "openai"]


@pytest.fixture
def claude(world):
    return provider_for(world, "anthropic")


def client(world, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("api_key", world.secret)
    return anthropic.Anthropic(base_url=world.gateway.url, max_retries=0, timeout=10, **kwargs)


def model_for(kind: str) -> str:
    return CLAUDE if kind == "anthropic" else GPT


def upstream_path(kind: str) -> str:
    return MESSAGES if kind == "anthropic" else CHAT


def record_of(request_id: str) -> RequestLog:
    deadline = time.monotonic() + 5
    while not (found := RequestLog.objects.filter(id=request_id).first()):
        assert time.monotonic() < deadline, "no record"
        time.sleep(0.02)
    return found


def openai_tool_call(call_id: str, arguments: str) -> dict:
    payload = chat_completion(GPT, content="", prompt=11, completion=6)
    payload["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
        ],
    }
    payload["choices"][0]["finish_reason"] = "tool_calls"
    return payload


def openai_tool_stream(call_id: str, fragments: list[str]) -> list:
    base = {"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1700000000, "model": GPT}
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    chunks: list = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [first]}}]}]
    for fragment in fragments:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}
        chunks.append({**base, "choices": [{"index": 0, "delta": delta}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38}})
    return [*chunks, "[DONE]"]


# --- non-streamed answers ---------------------------------------------------------------


def test_it_answers_text_natively_from_an_anthropic_provider(world, claude):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": message([text_block("Bonjour")])}

    answer = client(world).messages.create(
        model=CLAUDE, max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "Hi"}],
        metadata={"user_id": "u-1"}, extra_headers={"anthropic-version": "2099-01-01"},
    )  # fmt: skip

    assert answer.content[0].text == "Bonjour"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 7)
    seen = world.upstream.last()
    assert seen.path == MESSAGES
    assert seen.json == {
        "model": CLAUDE, "max_tokens": 100, "system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}],
        "metadata": {"user_id": "u-1"},
    }  # fmt: skip
    assert seen.headers["x-api-key"] == PROVIDER_SECRET
    assert seen.headers["anthropic-version"] == "2023-06-01"


def test_it_answers_text_translated_from_an_openai_provider(world):
    answer = client(world).messages.create(
        model=GPT, max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "Hi"}],
        stop_sequences=["END"], metadata={"user_id": "u-1"}, cache_control={"type": "ephemeral"},
        extra_body={"temperature": 0.2, "top_p": 0.9},  # this SDK's create() no longer names them
    )  # fmt: skip

    assert answer.type == "message"
    assert answer.content[0].text == "Hello from upstream"
    assert answer.stop_reason == "end_turn"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (5, 4)
    assert world.upstream.last().json == {
        "model": GPT, "max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "stop": ["END"], "user": "u-1",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Hi"},
        ],
    }  # fmt: skip
    assert world.upstream.last().headers["Authorization"] != f"Bearer {world.secret}"


@pytest.mark.parametrize("kind", KINDS)
def test_it_records_the_request_as_messages_with_its_tokens_and_cost(world, claude, kind):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": message([text_block("ok")])}

    raw = client(world).messages.with_raw_response.create(
        model=model_for(kind), max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    )

    record = record_of(raw.headers["x-request-id"])
    tokens = (12, 7) if kind == "anthropic" else (5, 4)
    assert (record.endpoint, record.status_code, record.error_code) == ("messages", 200, None)
    assert (record.prompt_tokens, record.completion_tokens) == tokens
    assert record.model_requested == model_for(kind)
    assert record.cost_usd > 0


@pytest.mark.parametrize("kind", KINDS)
def test_it_sends_images_from_base64_and_url_sources(world, claude, kind):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": message([text_block("A cat")])}
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]

    client(world).messages.create(model=model_for(kind), max_tokens=50, messages=[{"role": "user", "content": content}])

    sent = world.upstream.last().json["messages"][0]["content"]
    if kind == "anthropic":
        assert sent == content
    else:
        assert sent == [
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ]


@pytest.mark.parametrize("kind", KINDS)
def test_it_round_trips_a_tool_call_and_its_result(world, claude, kind):
    world.upstream.behaviour[MESSAGES] = lambda seen: {
        "json": message([tool_block("toolu_1", "get_weather", {"city": "Paris"})], stop_reason="tool_use")
    }
    world.upstream.behaviour[CHAT] = lambda seen: {"json": openai_tool_call("toolu_1", '{"city": "Paris"}')}
    sdk = client(world)
    question = {"role": "user", "content": "Weather in Paris?"}

    first = sdk.messages.create(
        model=model_for(kind), max_tokens=50, messages=[question], tools=[WEATHER], tool_choice={"type": "any"}
    )

    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert (call.type, call.id, call.name, call.input) == ("tool_use", "toolu_1", "get_weather", {"city": "Paris"})
    if kind == "openai":
        sent = world.upstream.last().json
        function = {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER["input_schema"]}
        assert sent["tools"] == [{"type": "function", "function": function}]
        assert sent["tool_choice"] == "required"

    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": message([text_block("18C in Paris")])}
    world.upstream.behaviour.pop(CHAT)
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]}
    second = sdk.messages.create(
        model=model_for(kind), max_tokens=50, tools=[WEATHER],
        messages=[question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}],
    )  # fmt: skip

    assert second.content[0].type == "text"
    history = world.upstream.last().json["messages"]
    if kind == "anthropic":
        assert history[2]["content"] == [result]
    else:
        assert history[1]["tool_calls"][0]["id"] == "toolu_1"
        assert json.loads(history[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
        assert history[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}


# --- streams ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_it_streams_text_that_the_sdk_assembles_into_the_final_message(world, claude, kind):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"events": stream_events([("text", ["Hel", "lo", "!"], {})])}
    world.upstream.behaviour[CHAT] = lambda seen: {"stream": chat_stream(GPT, ["Hel", "lo", "!"], usage=(20, 9))}

    with client(world).messages.stream(
        model=model_for(kind), max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Hello!"
    assert final.content[0].text == "Hello!"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 9
    record = record_of(stream.response.headers["x-request-id"])
    assert (record.endpoint, record.stream, record.status_code, record.error_reason) == ("messages", True, 200, None)
    assert record.completion_tokens == 9
    assert record.prompt_tokens == (25 if kind == "anthropic" else 20)


@pytest.mark.parametrize("kind", KINDS)
def test_it_streams_tool_input_deltas(world, claude, kind):
    fragments = ['{"city"', ': "Par', 'is"}']
    block = ("tool_use", fragments, {"id": "toolu_9", "name": "get_weather"})
    world.upstream.behaviour[MESSAGES] = lambda seen: {"events": stream_events([block], stop_reason="tool_use")}
    world.upstream.behaviour[CHAT] = lambda seen: {"stream": openai_tool_stream("toolu_9", fragments)}
    deltas = []

    with client(world).messages.stream(
        model=model_for(kind), max_tokens=50, tools=[WEATHER], messages=[{"role": "user", "content": "Paris?"}]
    ) as stream:
        for event in stream:
            if event.type == "input_json":
                deltas.append(event.partial_json)
        final = stream.get_final_message()

    assert deltas == fragments
    assert final.stop_reason == "tool_use"
    call = final.content[0]
    assert (call.id, call.name, call.input) == ("toolu_9", "get_weather", {"city": "Paris"})


def test_it_holds_message_stop_back_until_the_end_and_sends_events_in_anthropics_order(world):
    world.upstream.behaviour[CHAT] = lambda seen: {"stream": chat_stream(GPT, ["a", "b"])}

    with world.http(**{"x-api-key": world.secret}).stream(
        "POST",
        MESSAGES,
        json={"model": GPT, "max_tokens": 9, "stream": True, "messages": [{"role": "user", "content": "x"}]},
    ) as response:
        names = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]

    assert names == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_it_records_a_stream_the_client_abandoned_midway(world, claude, kind):
    events = stream_events([("text", [f"word{i} " for i in range(40)], {})])
    world.upstream.behaviour[MESSAGES] = lambda seen: {"events": events, "chunk_delay": 0.02}
    world.upstream.behaviour[CHAT] = lambda seen: {
        "stream": chat_stream(GPT, [f"word{i} " for i in range(40)]), "chunk_delay": 0.02
    }  # fmt: skip
    body = {"model": model_for(kind), "max_tokens": 500, "stream": True, "messages": [{"role": "user", "content": "x"}]}

    with world.http(**{"x-api-key": world.secret}).stream("POST", MESSAGES, json=body) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if "word3" in line:
                break

    record = record_of(request_id)
    assert (record.endpoint, record.status_code, record.error_reason) == ("messages", 200, "client_disconnected")
    assert record.completion_tokens >= 1


@pytest.mark.parametrize("kind", KINDS)
def test_it_ends_a_stream_the_provider_broke_off_with_an_error_event(world, claude, kind):
    events = stream_events([("text", ["Hel", "lo"], {})])[:5]  # no message_delta, no message_stop
    world.upstream.behaviour[MESSAGES] = lambda seen: {"events": events}
    world.upstream.behaviour[CHAT] = lambda seen: {"stream": chat_stream(GPT, ["Hel", "lo"])[:3]}
    received = []

    with (
        pytest.raises(anthropic.APIStatusError) as raised,
        client(world).messages.stream(
            model=model_for(kind), max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
        ) as stream,
    ):
        received.extend(stream.text_stream)

    assert "".join(received) == "Hello"
    assert raised.value.body["error"]["code"] == "upstream_error"
    record = record_of(stream.response.headers["x-request-id"])
    assert (record.status_code, record.error_code) == (200, "upstream_error")


# --- errors in Anthropic's shape ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_it_raises_authentication_error_for_an_invalid_key(world, claude, kind):
    with pytest.raises(anthropic.AuthenticationError) as raised:
        client(world, api_key="aid_sk_not_a_real_key").messages.create(
            model=model_for(kind), max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
        )

    error = raised.value.body["error"]
    assert (error["type"], error["code"], error["reason"]) == ("authentication_error", "unauthorized", "invalid_key")
    assert error["request_id"].startswith("req_")


@pytest.mark.parametrize("kind", KINDS)
def test_it_raises_permission_denied_for_a_model_not_allowed(world, claude, kind):
    factories.make_policy(world.tenant, tenant_wide=True, allowed_models=["nothing-*"])

    with pytest.raises(anthropic.PermissionDeniedError) as raised:
        client(world).messages.create(model=model_for(kind), max_tokens=5, messages=[{"role": "user", "content": "Hi"}])

    error = raised.value.body["error"]
    assert (error["type"], error["code"], error["reason"]) == ("permission_error", "forbidden", "model_not_allowed")
    record = RequestLog.objects.get(id=error["request_id"])
    assert (record.endpoint, record.status_code, record.error_reason) == ("messages", 403, "model_not_allowed")
    assert world.upstream.requests == []


def test_it_raises_not_found_for_a_model_no_provider_serves(world):
    with pytest.raises(anthropic.NotFoundError) as raised:
        client(world).messages.create(model="nobody-model", max_tokens=5, messages=[{"role": "user", "content": "Hi"}])

    error = raised.value.body["error"]
    assert (error["type"], error["code"]) == ("not_found_error", "model_not_found")


@pytest.mark.parametrize("kind", KINDS)
def test_it_raises_rate_limit_error_with_retry_after(world, claude, kind):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": message([text_block("ok")])}
    _, secret = factories.make_key(world.agent, rate_limit=1)
    sdk = client(world, api_key=secret)
    sdk.messages.create(model=model_for(kind), max_tokens=5, messages=[{"role": "user", "content": "Hi"}])

    with pytest.raises(anthropic.RateLimitError) as raised:
        sdk.messages.create(model=model_for(kind), max_tokens=5, messages=[{"role": "user", "content": "Hi"}])

    assert int(raised.value.response.headers["retry-after"]) >= 1
    error = raised.value.body["error"]
    assert (error["type"], error["code"], error["reason"]) == (
        "rate_limit_error",
        "rate_limited",
        "requests_per_minute",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_it_raises_bad_request_for_a_guardrail_violation(world, claude, kind):
    guardrails_put(app=world.app, actor=SYSTEM, data={"blocked_patterns": [{"name": "zeus", "pattern": "zeus"}]})

    with pytest.raises(anthropic.BadRequestError) as raised:
        client(world).messages.create(
            model=model_for(kind), max_tokens=5, messages=[{"role": "user", "content": "zeus"}]
        )

    error = raised.value.body["error"]
    assert (error["type"], error["code"], error["reason"]) == ("invalid_request_error", "guardrail_violation", "zeus")
    assert world.upstream.requests == []


@pytest.mark.parametrize("kind", KINDS)
def test_it_raises_internal_server_error_when_the_provider_fails(world, claude, kind):
    world.upstream.behaviour[upstream_path(kind)] = lambda seen: {"status": 500, "json": {"error": {"message": "boom"}}}

    with pytest.raises(anthropic.InternalServerError) as raised:
        client(world).messages.create(model=model_for(kind), max_tokens=5, messages=[{"role": "user", "content": "Hi"}])

    assert raised.value.status_code == 502
    error = raised.value.body["error"]
    assert (error["type"], error["code"]) == ("api_error", "upstream_error")


def test_it_refuses_max_tokens_missing_with_bad_request(world):
    response = world.http(**{"x-api-key": world.secret}).post(
        MESSAGES, json={"model": GPT, "messages": [{"role": "user", "content": "Hi"}]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "invalid_max_tokens"


def test_it_refuses_what_the_chat_form_cannot_carry_before_sending_anything(world):
    response = world.http(**{"x-api-key": world.secret}).post(
        MESSAGES,
        json={"model": GPT, "max_tokens": 5, "top_k": 3, "messages": [{"role": "user", "content": "Hi"}]},
    )

    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "unsupported_parameter"
    assert world.upstream.requests == []


def test_it_passes_fields_beyond_the_chat_form_to_an_anthropic_provider(world, claude):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": message([text_block("ok")])}

    client(world).messages.create(
        model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "Hi"}], extra_body={"top_k": 3}
    )

    assert world.upstream.last().json["top_k"] == 3


def test_it_refuses_a_content_block_the_guardrails_cannot_read(world, claude):
    block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "zeus"}}
    response = world.http(**{"x-api-key": world.secret}).post(
        MESSAGES, json={"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": [block]}]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "unsupported_parameter"


# --- fallbacks, credentials ---------------------------------------------------------------


def test_it_falls_back_from_a_native_anthropic_target_to_a_translated_openai_one(world, claude):
    factories.make_alias(
        world.tenant,
        [{"provider_id": claude.id, "model": CLAUDE}, {"provider_id": world.provider.id, "model": GPT}],
        alias="claude-team",
    )
    world.upstream.behaviour[MESSAGES] = lambda seen: {"status": 529, "json": {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}}  # fmt: skip

    raw = client(world).messages.with_raw_response.create(
        model="claude-team", max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
    )

    assert raw.parse().content[0].text == "Hello from upstream"
    assert [seen.path for seen in world.upstream.requests] == [MESSAGES, CHAT]
    record = record_of(raw.headers["x-request-id"])
    assert (record.model_requested, record.model_resolved, record.provider_id) == (
        "claude-team",
        GPT,
        world.provider.id,
    )


def test_it_takes_the_key_from_authorization_bearer_too(world):
    answer = anthropic.Anthropic(auth_token=world.secret, base_url=world.gateway.url, max_retries=0).messages.create(
        model=GPT, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
    )

    assert answer.content[0].text == "Hello from upstream"


def test_it_follows_the_claude_code_recipe(world, monkeypatch):
    """docs/proxy.md → Claude Code: the two environment variables and nothing else."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", world.gateway.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", world.secret)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)

    answer = anthropic.Anthropic(max_retries=0).messages.create(
        model=GPT, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
    )

    assert answer.content[0].text == "Hello from upstream"


# --- guardrails -------------------------------------------------------------------------

TOOL_RESULT = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "{text}"}]}
CALL = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "x"}}],
}
PLACES = {
    "system": lambda text: {"system": [{"type": "text", "text": text}]},
    "message": lambda text: {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]},
    "tool_result": lambda text: {"messages": [
        {"role": "user", "content": "Weather?"}, CALL,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": text}]}]},
    "tool_description": lambda text: {"tools": [{**WEATHER, "description": text}]},
}  # fmt: skip


def guarded_body(kind: str, place: str, text: str) -> dict:
    body = {"model": model_for(kind), "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    return body | PLACES[place](text)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("place", PLACES)
def test_it_blocks_a_pattern_wherever_the_text_stands(world, claude, kind, place):
    guardrails_put(app=world.app, actor=SYSTEM, data={"blocked_patterns": [{"name": "zeus", "pattern": "zeus"}]})

    response = world.http(**{"x-api-key": world.secret}).post(MESSAGES, json=guarded_body(kind, place, "project zeus"))

    assert response.status_code == 400, response.text
    assert response.json()["error"]["reason"] == "zeus"
    assert world.upstream.requests == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("place", PLACES)
def test_it_redacts_pii_wherever_the_text_stands(world, claude, kind, place):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": message([text_block("ok")])}
    guardrails_put(app=world.app, actor=SYSTEM, data={"pii": "redact"})

    response = world.http(**{"x-api-key": world.secret}).post(
        MESSAGES, json=guarded_body(kind, place, "mail bob@example.com")
    )

    assert response.status_code == 200, response.text
    sent = json.dumps(world.upstream.last().json)
    assert "bob@example.com" not in sent
    assert "mail [REDACTED:email]" in sent


def test_it_checks_the_strings_inside_a_tool_calls_input(world, claude):
    guardrails_put(app=world.app, actor=SYSTEM, data={"blocked_patterns": [{"name": "zeus", "pattern": "zeus"}]})
    call = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"q": ["zeus"]}}]}
    body = {"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}, call]}

    response = world.http(**{"x-api-key": world.secret}).post(MESSAGES, json=body)

    assert response.json()["error"]["reason"] == "zeus"


def test_it_returns_anthropic_shaped_usage_from_a_native_stream_with_cache_reads(world, claude):
    world.upstream.behaviour[MESSAGES] = lambda seen: {"events": stream_events([("text", ["ok"], {})])}

    with client(world).messages.stream(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]) as s:
        final = s.get_final_message()

    assert isinstance(final, at.Message)
    assert final.usage.cache_read_input_tokens == 5


def test_it_checks_a_tool_calls_input_sent_as_a_string(world, claude):
    guardrails_put(app=world.app, actor=SYSTEM, data={"blocked_patterns": [{"name": "zeus", "pattern": "zeus"}]})
    call = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": '{"q": "zeus"}'}]}
    body = {"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}, call]}

    response = world.http(**{"x-api-key": world.secret}).post(MESSAGES, json=body)

    assert response.json()["error"]["reason"] == "zeus"


def test_it_answers_a_body_over_the_limit_with_anthropics_request_too_large(world):
    body = {"model": GPT, "max_tokens": 5, "messages": [{"role": "user", "content": "x" * (2 << 20)}]}

    response = world.http(**{"x-api-key": world.secret}).post(MESSAGES, json=body)

    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_it_clamps_the_usage_a_broken_provider_reports(world, claude):
    payload = message([text_block("ok")])
    payload["usage"] = {"input_tokens": 10**30, "output_tokens": -5}
    world.upstream.behaviour[MESSAGES] = lambda seen: {"json": payload}

    raw = client(world).messages.with_raw_response.create(
        model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
    )

    record = record_of(raw.headers["x-request-id"])
    assert (record.prompt_tokens, record.completion_tokens) == (100_000_000, 0)
