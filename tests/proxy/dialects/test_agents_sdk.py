"""The OpenAI Agents SDK itself against the real gateway, configured as ``docs/proxy.md`` →
The OpenAI Agents SDK says: ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` from the environment,
tracing off, the Responses API. An ``agents.Agent`` with a function tool runs to its final
output natively (``openai``, a fake Responses API) and through the chat form (``anthropic``,
a fake Messages API, whole and streamed), the SDK's ``Runner`` carrying the conversation
itself."""

from __future__ import annotations

import asyncio
import warnings

import agents
import pytest

from forensics.models import RequestLog
from tests.providers.conftest import provider_for
from tests.providers.test_anthropic import stream_events
from tests.proxy.dialects.test_responses import (
    CLAUDE,
    anthropic_text_answer,
    anthropic_tool_answer,
    call_item,
    native_response,
    native_usage,
    text_item,
)
from tests.support.servers import SeenRequest


@pytest.fixture
def recipe(world, monkeypatch):
    """The environment of the recipe, and nothing else: no client object is handed to the SDK."""
    for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_WEBHOOK_SECRET", "OPENAI_AGENTS_DISABLE_TRACING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{world.gateway.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", world.secret)
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    agents.set_default_openai_api("responses")
    return world


def forecaster(model: str, cities: list[str]) -> agents.Agent:
    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        cities.append(city)
        return "-3 C"

    return agents.Agent(name="forecaster", instructions="Answer with the weather.", model=model, tools=[get_weather])


def answered_the_tool(seen: SeenRequest) -> bool:
    """Whether the request carries a tool's result: the Responses input or the Messages history."""
    if seen.path.endswith("/responses"):
        return any(item.get("type") == "function_call_output" for item in seen.json["input"])
    return any(
        block.get("type") == "tool_result"
        for message in seen.json["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
    )


def records_since(count: int) -> list[RequestLog]:
    return list(RequestLog.objects.order_by("created_at"))[count:]


def test_an_agent_calls_its_tool_through_the_native_responses_api(recipe):
    def native(seen: SeenRequest) -> dict:
        if answered_the_tool(seen):
            return {"json": native_response([text_item("Cold in Oslo")], usage=native_usage())}
        return {"json": native_response([call_item("call_a1", '{"city":"Oslo"}')], usage=native_usage())}

    recipe.upstream.behaviour["/v1/responses"] = native
    before = RequestLog.objects.count()
    cities: list[str] = []

    result = agents.Runner.run_sync(forecaster("gpt-4o", cities), "Weather in Oslo?")

    assert cities == ["Oslo"]
    assert result.final_output == "Cold in Oslo"
    sent = [seen.json for seen in recipe.upstream.requests]
    assert [seen.path for seen in recipe.upstream.requests] == ["/v1/responses", "/v1/responses"]
    assert sent[1]["input"][-1] == {"type": "function_call_output", "call_id": "call_a1", "output": "-3 C"}
    assert all(body["store"] is False for body in sent)
    records = records_since(before)
    assert [(r.endpoint, r.status_code, r.provider_id) for r in records] == [("responses", 200, recipe.provider.id)] * 2


def run_streamed(agent: agents.Agent, text: str) -> agents.RunResultStreaming:
    """A streamed run read to its end, as an application showing the answer live does.

    On the thread's default event loop, the one ``Runner.run_sync`` uses: the SDK shares one
    HTTP client per process, and its connections stay bound to the loop that opened them.
    """

    async def run() -> agents.RunResultStreaming:
        result = agents.Runner.run_streamed(agent, text)
        async for _ in result.stream_events():
            pass
        return result

    policy = asyncio.get_event_loop_policy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = policy.get_event_loop()
    if loop.is_closed():
        loop = policy.new_event_loop()
        policy.set_event_loop(loop)
    return loop.run_until_complete(run())


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_an_agent_calls_its_tool_through_the_chat_form_of_anthropic(recipe, streamed):
    anthropic = provider_for(recipe, "anthropic")
    call = [("tool_use", ['{"city":', ' "Oslo"}'], {"id": "toolu_a1", "name": "get_weather"})]

    def messages(seen: SeenRequest) -> dict:
        if not streamed:
            done = answered_the_tool(seen)
            return {"json": anthropic_text_answer("Cold in Oslo") if done else anthropic_tool_answer("toolu_a1")}
        if answered_the_tool(seen):
            return {"events": stream_events([("text", ["Cold", " in Oslo"], {})])}
        return {"events": stream_events(call, stop_reason="tool_use")}

    recipe.upstream.behaviour["/v1/messages"] = messages
    before = RequestLog.objects.count()
    cities: list[str] = []
    agent = forecaster(CLAUDE, cities)

    result = run_streamed(agent, "Weather in Oslo?") if streamed else agents.Runner.run_sync(agent, "Weather in Oslo?")

    assert cities == ["Oslo"]
    assert result.final_output == "Cold in Oslo"
    assert all(seen.json.get("stream", False) is streamed for seen in recipe.upstream.requests)
    last = recipe.upstream.last().json
    assert (last["system"], last["tools"][0]["name"]) == ("Answer with the weather.", "get_weather")
    assert last["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_a1", "content": "-3 C"}
    records = records_since(before)
    assert [(r.endpoint, r.status_code, r.stream) for r in records] == [("responses", 200, streamed)] * 2
    assert {r.provider_id for r in records} == {anthropic.id}
