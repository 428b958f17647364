"""The Agents SDK recipe of ``docs/proxy.md``: the openai client configured from
``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` alone runs a function-calling round trip on
``/v1/responses``, here through the chat form of the ``anthropic`` kind."""

from __future__ import annotations

import openai

from tests.providers.conftest import provider_for
from tests.proxy.dialects.test_responses import (
    CLAUDE,
    anthropic_answers,
    anthropic_text_answer,
    anthropic_tool_answer,
    function_round_trip,
)


def test_the_recipes_environment_is_all_the_client_needs(world, monkeypatch):
    provider_for(world, "anthropic")
    anthropic_answers(world, anthropic_tool_answer("toolu_r1"), anthropic_text_answer("Cold in Oslo"))
    for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{world.gateway.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", world.secret)
    client = openai.OpenAI(max_retries=0)
    call, answer = function_round_trip(client, CLAUDE)
    assert (call.name, call.call_id) == ("get_weather", "toolu_r1")
    assert answer.output_text == "Cold in Oslo"
