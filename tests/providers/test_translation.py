"""The translators without a network: request pieces, refusals, and stream parsing edge cases."""

from __future__ import annotations

import anthropic.types as at
import orjson
import pytest

from core.errors import GatewayError
from proxy.adapters import translation as t
from proxy.adapters.anthropic import AnthropicAdapter, AnthropicStream
from proxy.adapters.cohere import CohereAdapter, CohereStream
from proxy.adapters.gemini import GeminiAdapter, model_path
from proxy.config_snapshot import ProviderEntry

PDF = "data:application/pdf;base64,JVBERi0xLjQ="


def provider(kind: str, **fields) -> ProviderEntry:
    values = {
        "id": "prv_1",
        "kind": kind,
        "base_url": "",
        "api_key": "k",
        "models": (),
        "timeout_seconds": 5.0,
        "extra_headers": {},
        "priority": 0,
        "api_version": "",
        "created_at": 0.0,
    }
    values.update(fields)
    return ProviderEntry(**values)


def user(content) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": content}]}


def sse(name: str, payload: dict) -> bytes:
    return f"event: {name}\ndata: {orjson.dumps(payload).decode()}\n\n".encode()


def anthropic_text_stream() -> bytes:
    start = at.Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-x",
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=at.Usage(input_tokens=8, output_tokens=1),
    )
    events = [
        at.RawMessageStartEvent(type="message_start", message=start),
        at.RawContentBlockStartEvent(
            type="content_block_start", index=0, content_block=at.TextBlock(type="text", text="")
        ),
        at.RawContentBlockDeltaEvent(
            type="content_block_delta", index=0, delta=at.TextDelta(type="text_delta", text="héllo wörld")
        ),
        at.RawContentBlockStopEvent(type="content_block_stop", index=0),
        at.RawMessageDeltaEvent(
            type="message_delta", delta={"stop_reason": "end_turn"}, usage=at.MessageDeltaUsage(output_tokens=3)
        ),
        at.RawMessageStopEvent(type="message_stop"),
    ]
    return b"".join(sse(e.type, e.model_dump(mode="json", exclude_none=True)) for e in events)


def chunk_payloads(chunks: list[bytes]) -> list[dict]:
    return [orjson.loads(line[6:]) for chunk in chunks for line in chunk.split(b"\n") if line.startswith(b"data: ")]


def test_it_parses_a_stream_split_at_every_byte_the_same_as_whole():
    data = anthropic_text_stream()
    whole = AnthropicStream("claude-x", 10)
    expected = whole.feed(data) + whole.close()
    split = AnthropicStream("claude-x", 10)
    out = [chunk for i in range(len(data)) for chunk in split.feed(data[i : i + 1])] + split.close()
    strip = [{k: v for k, v in p.items() if k != "created"} for p in chunk_payloads(out)]
    assert strip == [{k: v for k, v in p.items() if k != "created"} for p in chunk_payloads(expected)]
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in strip if p["choices"]) == "héllo wörld"
    assert (split.usage.prompt_tokens, split.usage.completion_tokens) == (8, 3)


def test_it_estimates_stream_usage_when_the_provider_reports_none():
    stream = CohereStream("command-a", prompt_chars=40)
    events = [
        sse("message-start", {"type": "message-start", "id": "c1"}),
        sse(
            "content-delta",
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "x" * 20}}}},
        ),
        sse("message-end", {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}),
    ]
    out = stream.feed(b"".join(events)) + stream.close()
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens, stream.usage.reported) == (10, 5, False)
    assert chunk_payloads(out)[-1]["usage"]["total_tokens"] == 15


def test_it_ignores_events_after_a_stream_error():
    stream = AnthropicStream("claude-x", 0)
    error = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    late = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "late"}}
    out = stream.feed(sse("error", error) + sse("content_block_delta", late)) + stream.close()
    assert [p["error"]["message"] for p in chunk_payloads(out)] == ["the provider's stream failed: boom"]


@pytest.mark.parametrize(
    ("body", "is_set"),
    [
        ({"n": 1}, False),
        ({"n": 2}, True),
        ({"logprobs": False}, False),
        ({"logit_bias": {}}, False),
        ({"modalities": ["text"]}, False),
        ({"modalities": ["text", "audio"]}, True),
        ({"presence_penalty": 0}, False),
        ({"presence_penalty": 0.1}, True),
    ],
)
def test_it_accepts_default_values_of_refused_fields(body, is_set):
    assert t.field_set(body, next(iter(body))) is is_set


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_video", "video": "x"},
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": PDF}},
        {"type": "file", "file": {"file_id": "file-abc"}},
    ],
)
def test_it_refuses_content_parts_it_cannot_translate(part):
    with pytest.raises(GatewayError) as caught:
        t.content_parts([part], "messages[0]")
    assert caught.value.status == 400


def test_it_refuses_tool_call_arguments_that_are_not_a_json_object():
    message = {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1, 2]"}}]}
    with pytest.raises(GatewayError) as caught:
        t.tool_calls_of(message, "messages[1]")
    assert "JSON object" in caught.value.message


def test_it_sends_a_pdf_file_part_to_anthropic_as_a_document():
    body = user([{"type": "file", "file": {"file_data": PDF, "filename": "a.pdf"}}])
    call = AnthropicAdapter().chat_request(provider("anthropic"), "claude-x", body)
    assert call.json["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}}
    ]
    assert call.url == "https://api.anthropic.com/v1/messages"


def test_it_refuses_audio_for_anthropic_and_cohere_but_sends_it_to_gemini():
    body = user([{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}])
    for adapter in (AnthropicAdapter(), CohereAdapter()):
        with pytest.raises(GatewayError):
            adapter.chat_request(provider(adapter.kind), "m", body)
    call = GeminiAdapter().chat_request(provider("gemini"), "gemini-2.5-flash", body)
    assert call.json["contents"][0]["parts"] == [{"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}]


def test_it_uses_the_public_default_base_urls():
    gemini = GeminiAdapter().chat_request(provider("gemini"), "gemini-2.5-flash", user("hi"))
    cohere = CohereAdapter().embeddings_request(provider("cohere"), "embed-v4.0", {"model": "m", "input": "x"})
    assert gemini.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert cohere.url == "https://api.cohere.com/v2/embed"


def test_it_accepts_gemini_model_names_with_or_without_the_models_prefix():
    assert model_path("gemini-2.5-pro") == model_path("models/gemini-2.5-pro") == "models/gemini-2.5-pro"
    assert model_path("tunedModels/my-model") == "tunedModels/my-model"


def test_it_keeps_anthropic_tool_choice_none_with_tools_and_drops_it_without():
    tool = {"type": "function", "function": {"name": "f"}}
    with_tools = AnthropicAdapter().chat_request(
        provider("anthropic"), "c", {**user("hi"), "tools": [tool], "tool_choice": "none"}
    )
    without = AnthropicAdapter().chat_request(provider("anthropic"), "c", {**user("hi"), "tool_choice": "none"})
    assert with_tools.json["tool_choice"] == {"type": "none"}
    assert with_tools.json["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert "tool_choice" not in without.json


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"error": {"code": 400, "message": "bad key", "status": "INVALID_ARGUMENT"}}]', "bad key"),
        (b'{"type": "error", "error": {"type": "not_found_error", "message": "model: x"}}', "model: x"),
        (b'{"id": "1", "message": "invalid api token"}', "invalid api token"),
        (b"upstream connect error", "upstream connect error"),
    ],
)
def test_it_reads_each_providers_error_message(body, message):
    assert t.provider_error_message(body) == message
