"""The ``cohere`` kind through the official openai SDK, against a fake Cohere v2 API whose
answers and stream events are built from the cohere SDK's own models."""

from __future__ import annotations

import cohere
import openai
import pytest

from forensics.models import RequestLog
from tests.providers.conftest import PROVIDER_SECRET, provider_for, stream_text, stream_tool_calls

MODEL = "command-a-03-2025"
CHAT = "/v2/chat"
EMBED = "/v2/embed"
EMBED_MODEL = "embed-v4.0"
PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def _dump(model) -> dict:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def usage(prompt: float = 13, completion: float = 5, cached: float | None = None) -> cohere.Usage:
    return cohere.Usage(
        billed_units=cohere.UsageBilledUnits(input_tokens=prompt - 1, output_tokens=completion),
        tokens=cohere.UsageTokens(input_tokens=prompt, output_tokens=completion),
        cached_tokens=cached,
    )


def reply(text: str = "", finish: str = "COMPLETE", tool_calls=None, tool_plan=None, tokens=None) -> dict:
    content = [cohere.TextAssistantMessageResponseContentItem(type="text", text=text)] if text else None
    message = cohere.AssistantMessageResponse(
        role="assistant", content=content, tool_calls=tool_calls, tool_plan=tool_plan
    )
    return _dump(cohere.V2ChatResponse(id="c-123", finish_reason=finish, message=message, usage=tokens or usage()))


def tool_call(call_id: str, name: str, arguments: str) -> cohere.ToolCallV2:
    return cohere.ToolCallV2(
        id=call_id, type="function", function=cohere.ToolCallV2Function(name=name, arguments=arguments)
    )


@pytest.fixture
def command(world):
    return provider_for(world, "cohere")


def answer_with(world, payload: dict, status: int = 200, path: str = CHAT) -> None:
    world.upstream.behaviour[path] = lambda seen: {"status": status, "json": payload}


def chat(world, **kwargs):
    kwargs.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return world.sdk().chat.completions.create(model=MODEL, **kwargs)


REQUEST_MATRIX = [
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Answer in French."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Salut !"},
                {"role": "user", "content": [{"type": "text", "text": "Ça va ?"}]},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Salut !"},
                {"role": "user", "content": "Ça va ?"},
            ]
        },
        id="system-and-multi-turn",
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
                        {"type": "image_url", "image_url": {"url": PNG}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    ],
                }
            ]
        },
        id="images",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": "required"},
        {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather in a city",
                        "parameters": WEATHER_TOOL["function"]["parameters"],
                    },
                }
            ],
            "tool_choice": "REQUIRED",
        },
        id="tools-required",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL, TIME_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_time"}}},
        {
            "tools": [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}],
            "tool_choice": "REQUIRED",
        },
        id="named-tool-approximated-by-offering-only-it",
    ),
    pytest.param(
        {
            "tools": [WEATHER_TOOL],
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": "I will check both cities.",
                    "tool_calls": [
                        {
                            "id": "tc_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "tc_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "tc_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "tc_2", "content": "24C"},
            ],
        },
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "tool_plan": "I will check both cities.",
                    "tool_calls": [
                        {
                            "id": "tc_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "tc_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "tc_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "tc_2", "content": "24C"},
            ]
        },
        id="tool-calls-with-plan-and-results-in-history",
    ),
    pytest.param(
        {"response_format": {"type": "json_object"}},
        {"response_format": {"type": "json_object"}},
        id="json-object",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
        {"response_format": {"type": "json_object", "json_schema": {"type": "object"}}},
        id="json-schema",
    ),
    pytest.param(
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["END"],
            "max_completion_tokens": 100,
            "seed": 7,
            "frequency_penalty": 0.3,
            "presence_penalty": 0.1,
            "user": "user-42",
        },
        {
            "temperature": 0.2,
            "p": 0.9,
            "stop_sequences": ["END"],
            "max_tokens": 100,
            "seed": 7,
            "frequency_penalty": 0.3,
            "presence_penalty": 0.1,
            "user": None,
        },
        id="sampling-stop-max-tokens-user-not-sent",
    ),
]


@pytest.mark.parametrize(("request_fields", "expected"), REQUEST_MATRIX)
def test_it_translates_the_request_body(world, command, request_fields, expected):
    answer_with(world, reply("ok"))
    chat(world, **request_fields)
    sent = world.upstream.last()
    assert sent.path == CHAT
    assert sent.json["model"] == MODEL
    assert {name: sent.json.get(name) for name in expected} == expected


def test_it_sends_the_provider_key_as_bearer(world, command):
    answer_with(world, reply("ok"))
    chat(world)
    headers = {k.lower(): v for k, v in world.upstream.last().headers.items()}
    assert headers["authorization"] == f"Bearer {PROVIDER_SECRET}"
    assert world.secret not in headers["authorization"]


def test_it_answers_text_with_usage_including_cached_tokens(world, command):
    answer_with(world, reply("Bonjour", tokens=usage(prompt=40, completion=5, cached=32)))
    result = chat(world)
    assert result.choices[0].message.content == "Bonjour"
    assert result.choices[0].finish_reason == "stop"
    assert result.id == "chatcmpl-c-123"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (40, 5, 45)
    assert result.usage.prompt_tokens_details.cached_tokens == 32
    record = RequestLog.objects.get()
    assert (record.prompt_tokens, record.completion_tokens) == (40, 5)


def test_it_answers_parallel_tool_calls_with_the_plan_as_content(world, command):
    calls = [
        tool_call("tc_1", "get_weather", '{"city": "Paris"}'),
        tool_call("tc_2", "get_weather", '{"city": "Rome"}'),
    ]
    answer_with(world, reply(finish="TOOL_CALL", tool_calls=calls, tool_plan="I will check both."))
    choice = chat(world, tools=[WEATHER_TOOL]).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I will check both."
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls] == [
        ("tc_1", "get_weather", '{"city": "Paris"}'),
        ("tc_2", "get_weather", '{"city": "Rome"}'),
    ]


@pytest.mark.parametrize(
    ("finish", "finish_reason"),
    [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls")],
)
def test_it_maps_the_finish_reason(world, command, finish, finish_reason):
    answer_with(world, reply("x", finish=finish))
    assert chat(world).choices[0].finish_reason == finish_reason


def test_it_answers_a_failed_generation_as_upstream_error(world, command):
    answer_with(world, reply("x", finish="ERROR"))
    with pytest.raises(openai.InternalServerError) as caught:
        chat(world)
    assert (caught.value.status_code, caught.value.body["code"]) == (502, "upstream_error")


def text_stream(fragments: list[str], tokens: cohere.Usage | None = None) -> list[tuple[str, dict]]:
    events = [
        cohere.MessageStartV2ChatStreamResponse(
            type="message-start",
            id="c-stream",
            delta=cohere.ChatMessageStartEventDelta(message=cohere.ChatMessageStartEventDeltaMessage(role="assistant")),
        ),
        cohere.ContentStartV2ChatStreamResponse(
            type="content-start",
            index=0,
            delta=cohere.ChatContentStartEventDelta(
                message=cohere.ChatContentStartEventDeltaMessage(
                    content=cohere.ChatContentStartEventDeltaMessageContent(type="text", text="")
                )
            ),
        ),
    ]
    events += [
        cohere.ContentDeltaV2ChatStreamResponse(
            type="content-delta",
            index=0,
            delta=cohere.ChatContentDeltaEventDelta(
                message=cohere.ChatContentDeltaEventDeltaMessage(
                    content=cohere.ChatContentDeltaEventDeltaMessageContent(text=fragment)
                )
            ),
        )
        for fragment in fragments
    ]
    events.append(cohere.ContentEndV2ChatStreamResponse(type="content-end", index=0))
    events.append(message_end("COMPLETE", tokens or usage(prompt=21, completion=4)))
    return [(event.type, _dump(event)) for event in events]


def message_end(finish: str, tokens: cohere.Usage | None = None, error: str | None = None):
    return cohere.MessageEndV2ChatStreamResponse(
        type="message-end", delta=cohere.ChatMessageEndEventDelta(finish_reason=finish, usage=tokens, error=error)
    )


def test_it_streams_text_with_a_final_usage_chunk(world, command):
    world.upstream.behaviour[CHAT] = lambda seen: {"events": text_stream(["Hel", "lo", " there"])}
    chunks = list(chat(world, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (21, 4)
    assert world.upstream.last().json["stream"] is True
    record = RequestLog.objects.get()
    assert (record.prompt_tokens, record.completion_tokens) == (21, 4)


def test_it_streams_tool_calls_with_argument_deltas(world, command):
    def start(index: int, call_id: str):
        call = cohere.ToolCallV2(
            id=call_id, type="function", function=cohere.ToolCallV2Function(name="get_weather", arguments="")
        )
        return cohere.ToolCallStartV2ChatStreamResponse(
            type="tool-call-start",
            index=index,
            delta=cohere.ChatToolCallStartEventDelta(
                message=cohere.ChatToolCallStartEventDeltaMessage(tool_calls=call)
            ),
        )

    def delta(index: int, fragment: str):
        function = cohere.ChatToolCallDeltaEventDeltaMessageToolCallsFunction(arguments=fragment)
        return cohere.ToolCallDeltaV2ChatStreamResponse(
            type="tool-call-delta",
            index=index,
            delta=cohere.ChatToolCallDeltaEventDelta(
                message=cohere.ChatToolCallDeltaEventDeltaMessage(
                    tool_calls=cohere.ChatToolCallDeltaEventDeltaMessageToolCalls(function=function)
                )
            ),
        )

    plan = cohere.ToolPlanDeltaV2ChatStreamResponse(
        type="tool-plan-delta",
        delta=cohere.ChatToolPlanDeltaEventDelta(
            message=cohere.ChatToolPlanDeltaEventDeltaMessage(tool_plan="Checking.")
        ),
    )
    events = [
        plan,
        start(0, "tc_a"),
        delta(0, '{"city": '),
        delta(0, '"Paris"}'),
        cohere.ToolCallEndV2ChatStreamResponse(type="tool-call-end", index=0),
        start(1, "tc_b"),
        delta(1, '{"city": "Rome"}'),
        cohere.ToolCallEndV2ChatStreamResponse(type="tool-call-end", index=1),
        message_end("TOOL_CALL", usage()),
    ]
    world.upstream.behaviour[CHAT] = lambda seen: {"events": [(e.type, _dump(e)) for e in events]}
    calls, finish = stream_tool_calls(chat(world, stream=True, tools=[WEATHER_TOOL]))
    assert calls == {
        0: {"id": "tc_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "tc_b", "name": "get_weather", "arguments": '{"city": "Rome"}'},
    }
    assert finish == "tool_calls"


def test_it_ends_the_stream_with_an_error_chunk_when_the_generation_fails(world, command):
    events = text_stream(["Partial"])[:3]
    failed = message_end("ERROR", error="internal generation failure")
    world.upstream.behaviour[CHAT] = lambda seen: {"events": [*events, (failed.type, _dump(failed))]}
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        stream_text(chat(world, stream=True), received)
    assert "".join(received) == "Partial"
    assert "internal generation failure" in caught.value.message


def test_it_ends_a_stream_cut_short_with_an_error_chunk(world, command):
    world.upstream.behaviour[CHAT] = lambda seen: {"events": text_stream(["Partial"])[:3]}
    with pytest.raises(openai.APIError):
        list(chat(world, stream=True))


def test_it_creates_embeddings(world, command):
    payload = cohere.EmbedByTypeResponse(
        response_type="embeddings_by_type",
        id="e-1",
        embeddings=cohere.EmbedByTypeResponseEmbeddings(float_=[[0.1, 0.2], [0.3, 0.4]]),
        texts=["a", "b"],
        meta=cohere.ApiMeta(billed_units=cohere.ApiMetaBilledUnits(input_tokens=6)),
    )
    answer_with(world, _dump(payload), path=EMBED)
    result = world.sdk().embeddings.create(model=EMBED_MODEL, input=["a", "b"], dimensions=256)
    assert [d.embedding for d in result.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (6, 6)
    assert world.upstream.last().json == {
        "model": EMBED_MODEL,
        "texts": ["a", "b"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 256,
    }


def test_it_passes_cohere_input_type_from_the_body(world, command):
    payload = cohere.EmbedByTypeResponse(
        response_type="embeddings_by_type",
        id="e-1",
        embeddings=cohere.EmbedByTypeResponseEmbeddings(float_=[[0.5]]),
    )
    answer_with(world, _dump(payload), path=EMBED)
    world.sdk().embeddings.create(model=EMBED_MODEL, input="what is x?", extra_body={"input_type": "search_query"})
    assert world.upstream.last().json["input_type"] == "search_query"


def test_it_refuses_token_array_embeddings(world, command):
    with pytest.raises(openai.BadRequestError) as caught:
        world.sdk().embeddings.create(model=EMBED_MODEL, input=[[1, 2, 3]])
    assert caught.value.body["reason"] == "unsupported_parameter"


def test_it_passes_an_upstream_client_error_with_its_message(world, command):
    answer_with(world, {"id": "err-1", "message": "invalid request: model not found"}, status=404)
    with pytest.raises(openai.NotFoundError) as caught:
        chat(world)
    assert caught.value.body["code"] == "upstream_error"
    assert caught.value.body["message"] == "invalid request: model not found"


def test_it_raises_rate_limit_error_when_cohere_is_rate_limited(world, command):
    answer_with(world, {"message": "You are using a Trial key"}, status=429)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(world)
    assert caught.value.body["reason"] == "upstream_rate_limited"


def test_it_raises_internal_server_error_when_cohere_fails(world, command):
    answer_with(world, {"message": "internal server error"}, status=500)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(world)
    assert caught.value.status_code == 502


@pytest.mark.parametrize(("field", "value"), [("n", 3), ("top_logprobs", 2), ("verbosity", "low")])
def test_it_refuses_a_field_cohere_cannot_honour(world, command, field, value):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(world, extra_body={field: value})
    assert caught.value.body["reason"] == "unsupported_parameter"
    assert world.upstream.requests == []
