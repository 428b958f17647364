"""Alias fallback across provider kinds: a failing target of one kind hands over to another kind."""

from __future__ import annotations

import anthropic.types as at
import pytest
from google.genai import types as gt

from forensics.models import RequestLog
from tests import factories
from tests.providers.conftest import provider_for

CLAUDE = "claude-sonnet-4-5"
GEMINI = "gemini-2.5-flash"
COMMAND = "command-a-03-2025"
GEMINI_GENERATE = f"/v1beta/models/{GEMINI}:generateContent"
GEMINI_STREAM = f"/v1beta/models/{GEMINI}:streamGenerateContent"


def gemini_answer(text: str) -> dict:
    answer = gt.GenerateContentResponse(
        candidates=[
            gt.Candidate(content=gt.Content(role="model", parts=[gt.Part(text=text)]), finish_reason="STOP", index=0)
        ],
        usage_metadata=gt.GenerateContentResponseUsageMetadata(
            prompt_token_count=3, candidates_token_count=2, total_token_count=5
        ),
    )
    return answer.model_dump(mode="json", exclude_none=True, by_alias=True)


def anthropic_error(status_type: str, message: str) -> dict:
    error_types = {"overloaded_error": at.OverloadedError, "rate_limit_error": at.RateLimitError}
    error = at.ErrorResponse(type="error", error=error_types[status_type](type=status_type, message=message))
    return error.model_dump(mode="json", exclude_none=True)


@pytest.fixture
def alias(world):
    """``smart``: Anthropic first, then Gemini."""
    claude = provider_for(world, "anthropic")
    gemini = provider_for(world, "gemini")
    factories.make_alias(
        world.tenant,
        [{"provider_id": claude.id, "model": CLAUDE}, {"provider_id": gemini.id, "model": GEMINI}],
        alias="smart",
    )
    return claude, gemini


@pytest.mark.parametrize(("status", "error_type"), [(529, "overloaded_error"), (429, "rate_limit_error")])
def test_it_falls_back_from_anthropic_to_gemini(world, alias, status, error_type):
    _, gemini = alias
    world.upstream.behaviour["/v1/messages"] = lambda seen: {
        "status": status,
        "json": anthropic_error(error_type, "no"),
    }
    world.upstream.behaviour[GEMINI_GENERATE] = lambda seen: {"json": gemini_answer("from gemini")}
    result = world.sdk().chat.completions.create(model="smart", messages=[{"role": "user", "content": "Hi"}])
    assert result.choices[0].message.content == "from gemini"
    assert [r.path for r in world.upstream.requests] == ["/v1/messages", GEMINI_GENERATE]
    record = RequestLog.objects.get()
    assert (record.provider_id, record.model_resolved) == (gemini.id, GEMINI)
    assert (record.prompt_tokens, record.completion_tokens) == (3, 2)


def test_it_falls_back_before_streaming_a_byte(world, alias):
    world.upstream.behaviour["/v1/messages"] = lambda seen: {
        "status": 500,
        "json": anthropic_error("overloaded_error", "x"),
    }
    world.upstream.behaviour[GEMINI_STREAM] = lambda seen: {"stream": [gemini_answer("streamed by gemini")]}
    stream = world.sdk().chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed by gemini"


def test_it_falls_back_from_cohere_to_anthropic_with_tools(world):
    command = provider_for(world, "cohere")
    claude = provider_for(world, "anthropic")
    factories.make_alias(
        world.tenant,
        [{"provider_id": command.id, "model": COMMAND}, {"provider_id": claude.id, "model": CLAUDE}],
        alias="agent",
    )
    world.upstream.behaviour["/v2/chat"] = lambda seen: {"status": 503, "json": {"message": "unavailable"}}
    message = at.Message(
        id="msg_1",
        type="message",
        role="assistant",
        model=CLAUDE,
        content=[at.ToolUseBlock(type="tool_use", id="toolu_9", name="lookup", input={"q": "x"})],
        stop_reason="tool_use",
        stop_sequence=None,
        usage=at.Usage(input_tokens=4, output_tokens=3),
    )
    world.upstream.behaviour["/v1/messages"] = lambda seen: {"json": message.model_dump(mode="json")}
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    result = world.sdk().chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "Find x"}], tools=[tool]
    )
    assert result.choices[0].message.tool_calls[0].function.arguments == '{"q":"x"}'
    assert world.upstream.requests[0].json["tools"][0]["function"]["name"] == "lookup"
    assert world.upstream.requests[1].json["tools"][0]["name"] == "lookup"
