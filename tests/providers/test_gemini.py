"""The ``gemini`` kind through the official openai SDK, against a fake Gemini API whose answers
and stream events are built from google-genai's own response models."""

from __future__ import annotations

import json

import openai
import pytest
from google.genai import types as gt

from forensics.models import RequestLog
from proxy.adapters.gemini import THOUGHT_SIGNATURE_SEPARATOR
from tests.providers.conftest import PROVIDER_SECRET, provider_for, stream_text, stream_tool_calls

MODEL = "gemini-2.5-flash"
GENERATE = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent"
EMBED_MODEL = "gemini-embedding-001"
EMBED = f"/v1beta/models/{EMBED_MODEL}:batchEmbedContents"
PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def _dump(model) -> dict:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def usage(prompt: int = 11, candidates: int = 6, cached: int | None = None, thoughts: int | None = None):
    total = prompt + candidates + (thoughts or 0)
    return gt.GenerateContentResponseUsageMetadata(
        prompt_token_count=prompt,
        candidates_token_count=candidates,
        cached_content_token_count=cached,
        thoughts_token_count=thoughts,
        total_token_count=total,
    )


def candidate(parts: list[gt.Part], finish: str | None = "STOP", index: int = 0) -> gt.Candidate:
    return gt.Candidate(content=gt.Content(role="model", parts=parts), finish_reason=finish, index=index)


def response(candidates: list[gt.Candidate], metadata=None) -> dict:
    return _dump(
        gt.GenerateContentResponse(
            candidates=candidates, usage_metadata=metadata or usage(), model_version=MODEL, response_id="resp-1"
        )
    )


def call_part(name: str, args: dict, signature: bytes | None = None) -> gt.Part:
    return gt.Part(function_call=gt.FunctionCall(name=name, args=args), thought_signature=signature)


@pytest.fixture
def gemini(world):
    return provider_for(world, "gemini")


def answer_with(world, payload: dict, status: int = 200, path: str = GENERATE) -> None:
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
            ]
        },
        {
            "systemInstruction": {"parts": [{"text": "Be brief.\n\nAnswer in French."}]},
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        },
        id="system-instruction",
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
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": "How are you?"}]},
            ]
        },
        id="multi-turn-with-model-role",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image_url", "image_url": {"url": PNG}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "Compare"},
                        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}},
                    ],
                }
            ]
        },
        id="images-inline-and-file-uri",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        {
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "get_weather",
                            "description": "Weather in a city",
                            "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                        }
                    ]
                }
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        },
        id="tools-and-named-tool-choice",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": "none"},
        {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}},
        id="tool-choice-none",
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
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": f"call_2{THOUGHT_SIGNATURE_SEPARATOR}c2ln",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 18}'},
                {"role": "tool", "tool_call_id": f"call_2{THOUGHT_SIGNATURE_SEPARATOR}c2ln", "content": "24C"},
            ],
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}, "thoughtSignature": "c2ln"},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"celsius": 18}}},
                        {"functionResponse": {"name": "get_weather", "response": {"output": "24C"}}},
                    ],
                },
            ]
        },
        id="parallel-calls-and-function-responses-in-history",
    ),
    pytest.param(
        {"response_format": {"type": "json_object"}},
        {"generationConfig": {"responseMimeType": "application/json"}},
        id="json-object",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
        {"generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}},
        id="json-schema",
    ),
    pytest.param(
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "max_tokens": 100,
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.3,
            "n": 2,
        },
        {
            "generationConfig": {
                "temperature": 0.2,
                "topP": 0.9,
                "stopSequences": ["END"],
                "maxOutputTokens": 100,
                "seed": 7,
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.3,
                "candidateCount": 2,
            }
        },
        id="generation-config",
    ),
]


@pytest.mark.parametrize(("request_fields", "expected"), REQUEST_MATRIX)
def test_it_translates_the_request_body(world, gemini, request_fields, expected):
    answer_with(world, response([candidate([gt.Part(text="ok")])]))
    chat(world, **request_fields)
    sent = world.upstream.last()
    assert sent.path == GENERATE
    assert {name: sent.json.get(name) for name in expected} == expected


def test_it_sends_the_provider_key_in_the_goog_header(world, gemini):
    answer_with(world, response([candidate([gt.Part(text="ok")])]))
    chat(world)
    headers = {k.lower(): v for k, v in world.upstream.last().headers.items()}
    assert headers["x-goog-api-key"] == PROVIDER_SECRET
    assert "authorization" not in headers
    assert "key" not in world.upstream.last().query


def test_it_uses_the_providers_api_version_in_the_path(world):
    provider_for(world, "gemini", api_version="v1")
    answer_with(world, response([candidate([gt.Part(text="ok")])]), path=f"/v1/models/{MODEL}:generateContent")
    assert chat(world).choices[0].message.content == "ok"


def test_it_refuses_a_tool_result_for_an_unknown_call(world, gemini):
    messages = [{"role": "user", "content": "Hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "1"}]
    with pytest.raises(openai.BadRequestError) as caught:
        chat(world, messages=messages)
    assert caught.value.body["reason"] == "unsupported_parameter"
    assert world.upstream.requests == []


def test_it_answers_text_with_usage_including_cached_and_thinking_tokens(world, gemini):
    answer_with(
        world,
        response(
            [candidate([gt.Part(text="thinking...", thought=True), gt.Part(text="Bon"), gt.Part(text="jour")])],
            usage(prompt=40, candidates=6, cached=32, thoughts=10),
        ),
    )
    result = chat(world)
    assert result.choices[0].message.content == "Bonjour"
    assert result.choices[0].finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (40, 16, 56)
    assert result.usage.prompt_tokens_details.cached_tokens == 32
    assert result.usage.completion_tokens_details.reasoning_tokens == 10
    assert (RequestLog.objects.get().prompt_tokens, RequestLog.objects.get().completion_tokens) == (40, 16)


def test_it_answers_parallel_tool_calls_and_keeps_thought_signatures_in_the_ids(world, gemini):
    parts = [call_part("get_weather", {"city": "Paris"}, b"sig-1"), call_part("get_weather", {"city": "Rome"})]
    answer_with(world, response([candidate(parts)]))
    choice = chat(world, tools=[WEATHER_TOOL]).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Rome"}'),
    ]
    assert calls[0].id.endswith(f"{THOUGHT_SIGNATURE_SEPARATOR}c2lnLTE=")
    assert THOUGHT_SIGNATURE_SEPARATOR not in calls[1].id
    assert calls[0].id != calls[1].id


def test_it_sends_a_thought_signature_back_with_its_call(world, gemini):
    answer_with(world, response([candidate([call_part("get_weather", {"city": "Paris"}, b"sig-1")])]))
    first = chat(world, tools=[WEATHER_TOOL]).choices[0].message
    answer_with(world, response([candidate([gt.Part(text="18C in Paris")])]))
    history = [
        {"role": "user", "content": "Weather?"},
        first.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "18C"},
    ]
    assert chat(world, tools=[WEATHER_TOOL], messages=history).choices[0].message.content == "18C in Paris"
    model_turn = world.upstream.last().json["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == "c2lnLTE="


def test_it_answers_several_candidates_as_choices(world, gemini):
    answer_with(
        world,
        response([candidate([gt.Part(text="A")], index=0), candidate([gt.Part(text="B")], "MAX_TOKENS", index=1)]),
    )
    result = chat(world, n=2)
    assert [(c.index, c.message.content, c.finish_reason) for c in result.choices] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]


@pytest.mark.parametrize(
    ("finish", "finish_reason"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_it_maps_the_finish_reason(world, gemini, finish, finish_reason):
    answer_with(world, response([candidate([gt.Part(text="x")], finish)]))
    assert chat(world).choices[0].finish_reason == finish_reason


def test_it_answers_a_blocked_prompt_as_content_filter(world, gemini):
    blocked = gt.GenerateContentResponse(
        prompt_feedback=gt.GenerateContentResponsePromptFeedback(block_reason="SAFETY"), usage_metadata=usage()
    )
    answer_with(world, _dump(blocked))
    choice = chat(world).choices[0]
    assert (choice.message.content, choice.finish_reason) == ("", "content_filter")


def stream_chunks(parts_per_chunk: list[list[gt.Part]], finish: str = "STOP") -> list[dict]:
    """One streamed answer: usage grows with each chunk, the last one carries the finish reason."""
    last = len(parts_per_chunk) - 1
    return [
        response([candidate(parts, finish if i == last else None)], usage(prompt=9, candidates=2 * (i + 1)))
        for i, parts in enumerate(parts_per_chunk)
    ]


def test_it_streams_text_from_sse_with_a_final_usage_chunk(world, gemini):
    chunks = stream_chunks([[gt.Part(text="Hel")], [gt.Part(text="lo")], [gt.Part(text=" there")]])
    # Gemini ends SSE lines with CRLF; one event is split across two writes.
    raw = [f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks]
    raw = [raw[0][:10], raw[0][10:], *raw[1:]]
    world.upstream.behaviour[STREAM] = lambda seen: {"raw": raw}
    received = list(chat(world, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "Hello there"
    assert world.upstream.last().query == {"alt": "sse"}
    assert received[-1].choices == []
    assert (received[-1].usage.prompt_tokens, received[-1].usage.completion_tokens) == (9, 6)
    record = RequestLog.objects.get()
    assert (record.prompt_tokens, record.completion_tokens) == (9, 6)


def test_it_streams_tool_calls(world, gemini):
    chunks = stream_chunks(
        [
            [gt.Part(text="Checking.")],
            [call_part("get_weather", {"city": "Paris"}), call_part("get_weather", {"city": "Rome"})],
        ]
    )
    world.upstream.behaviour[STREAM] = lambda seen: {"stream": chunks}
    calls, finish = stream_tool_calls(chat(world, stream=True, tools=[WEATHER_TOOL]))
    assert [(c["name"], c["arguments"]) for c in calls.values()] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Rome"}'),
    ]
    assert all(c["id"] for c in calls.values())
    assert finish == "tool_calls"


def test_it_ends_the_stream_with_an_error_chunk_on_an_error_event(world, gemini):
    chunks = stream_chunks([[gt.Part(text="Partial")], [gt.Part(text="never")]])
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    world.upstream.behaviour[STREAM] = lambda seen: {"stream": [chunks[0], error, chunks[1]]}
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        stream_text(chat(world, stream=True), received)
    assert "".join(received) == "Partial"
    assert "The model is overloaded." in caught.value.message


def test_it_ends_a_stream_without_finish_reason_with_an_error_chunk(world, gemini):
    chunks = stream_chunks([[gt.Part(text="Partial")], [gt.Part(text="more")]])
    world.upstream.behaviour[STREAM] = lambda seen: {"stream": chunks[:1]}
    with pytest.raises(openai.APIError):
        list(chat(world, stream=True))


def test_it_creates_embeddings_with_batch_embed_contents(world, gemini):
    vectors = gt.EmbedContentResponse(
        embeddings=[gt.ContentEmbedding(values=[0.1, 0.2]), gt.ContentEmbedding(values=[0.3, 0.4])]
    )
    answer_with(world, _dump(vectors), path=EMBED)
    result = world.sdk().embeddings.create(model=EMBED_MODEL, input=["a", "b"], dimensions=2)
    assert [d.embedding for d in result.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert [d.index for d in result.data] == [0, 1]
    assert world.upstream.last().json == {
        "requests": [
            {"model": f"models/{EMBED_MODEL}", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 2},
            {"model": f"models/{EMBED_MODEL}", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 2},
        ]
    }


def test_it_reports_embedding_usage_when_gemini_reports_it(world, gemini):
    payload = _dump(gt.EmbedContentResponse(embeddings=[gt.ContentEmbedding(values=[0.5])]))
    payload["usageMetadata"] = {"promptTokenCount": 4, "totalTokenCount": 4}
    answer_with(world, payload, path=EMBED)
    result = world.sdk().embeddings.create(model=EMBED_MODEL, input="hello", encoding_format="float")
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (4, 4)
    assert RequestLog.objects.get().prompt_tokens == 4


def test_it_passes_an_upstream_client_error_with_its_message(world, gemini):
    error = [{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}]
    world.upstream.behaviour[GENERATE] = lambda seen: {"status": 400, "json": error}
    with pytest.raises(openai.BadRequestError) as caught:
        chat(world)
    assert caught.value.body["message"] == "API key not valid."


def test_it_raises_rate_limit_error_when_gemini_is_rate_limited(world, gemini):
    error = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    answer_with(world, error, status=429)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(world)
    assert caught.value.body["reason"] == "upstream_rate_limited"


def test_it_raises_internal_server_error_when_gemini_fails(world, gemini):
    answer_with(world, {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}, status=500)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(world)
    assert caught.value.status_code == 502
    assert "Internal error" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("logprobs", True), ("reasoning_effort", "high"), ("audio", {"voice": "alloy", "format": "wav"})],
)
def test_it_refuses_a_field_gemini_cannot_honour(world, gemini, field, value):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(world, extra_body={field: value})
    assert caught.value.body["reason"] == "unsupported_parameter"
    assert world.upstream.requests == []
