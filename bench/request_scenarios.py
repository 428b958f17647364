"""The requests the benchmark sends, by name: chat completions and the two client dialects
(Anthropic Messages on ``/v1/messages``, OpenAI Responses on ``/v1/responses``), each plain
and streamed, each through the chat form and natively.

Why one table: ``make bench`` (its ``dialects`` phase) and ``make bench-instructions`` must
weigh the same request, with the same prompt, model and answer size, so that a dialect's
figure can be read as a ratio to chat's. Every dialect scenario names the chat scenario it is
compared with (streamed against streamed), and the provider it reaches, which the seeded
tenant (``bench/seed_tenant.py``) and the mock upstream (``bench/mock_upstream.py``) serve:

- ``gpt-4o-mini``: the ``openai_compatible`` provider of the chat rows. Neither dialect is
  native there, so ``messages`` and ``responses`` go through the chat form: translated into
  a chat request, and the chat answer back into the dialect's (``openai`` and
  ``openai_compatible`` share one adapter, so this is also the chat form to ``openai``).
- ``claude-bench``: an ``anthropic`` provider on the mock, where ``messages-native`` passes
  through as it came.
- ``gpt-4o-mini-native``: an ``openai`` provider on the mock, where ``responses-native``
  passes through.
- ``gpt-4o-mini-unsigned``: chat to a provider with ``send_agent_identity`` off, so that
  ``chat-unsigned`` against ``chat`` weighs the signed agent identity (SPEC 3.10) a request
  costs: ``chat`` / ``chat-unsigned`` - 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

PROMPT = (
    "You are reviewing a pull request. Summarise the change in two sentences and list the risks you see, "
    "if any, for a reader who has not seen the code: the gateway now batches its forensic records."
)
MAX_TOKENS = 64
CHAT_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-bench"
OPENAI_NATIVE_MODEL = "gpt-4o-mini-native"
UNSIGNED_MODEL = "gpt-4o-mini-unsigned"

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"


class BodyBuilder(Protocol):
    def __call__(self, model: str, *, stream: bool) -> bytes: ...


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def chat_body(model: str, *, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS}
    return _json({**body, "stream": True} if stream else body)


def messages_body(model: str, *, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": PROMPT}]}
    return _json({**body, "stream": True} if stream else body)


def responses_body(model: str, *, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "input": PROMPT, "max_output_tokens": MAX_TOKENS}
    return _json({**body, "stream": True} if stream else body)


CHAT_BODY = chat_body(CHAT_MODEL, stream=False)
STREAM_BODY = chat_body(CHAT_MODEL, stream=True)


@dataclass(frozen=True, slots=True)
class RequestScenario:
    """One request the gateway is measured on, and what it is measured against."""

    name: str
    path: str
    body: bytes
    stream: bool
    # "chat", "chat form" (translated to and from the chat form) or "native" (passed through).
    route: str
    # The chat scenario whose figures this one's are divided by (itself for chat).
    baseline: str
    # Whether the mock answers this very request directly (the upstream speaks the client's
    # format): a direct run then measures the upstream alone. A chat-form request has no
    # direct counterpart; its upstream call is chat's.
    direct: bool


def _scenario(name: str, path: str, body_of: BodyBuilder, model: str, route: str, *, direct: bool) -> RequestScenario:
    """A scenario whose name ends in ``-stream`` when it streams; streamed is compared with streamed."""
    stream = name.endswith("-stream")
    baseline = "chat-stream" if stream else "chat"
    return RequestScenario(name, path, body_of(model, stream=stream), stream, route, baseline, direct)


SCENARIOS: dict[str, RequestScenario] = {s.name: s for s in (
    _scenario("chat", CHAT_PATH, chat_body, CHAT_MODEL, "chat", direct=True),
    _scenario("chat-stream", CHAT_PATH, chat_body, CHAT_MODEL, "chat", direct=True),
    _scenario("chat-unsigned", CHAT_PATH, chat_body, UNSIGNED_MODEL, "chat", direct=True),
    _scenario("messages", MESSAGES_PATH, messages_body, CHAT_MODEL, "chat form", direct=False),
    _scenario("messages-stream", MESSAGES_PATH, messages_body, CHAT_MODEL, "chat form", direct=False),
    _scenario("messages-native", MESSAGES_PATH, messages_body, ANTHROPIC_MODEL, "native", direct=True),
    _scenario("messages-native-stream", MESSAGES_PATH, messages_body, ANTHROPIC_MODEL, "native", direct=True),
    _scenario("responses", RESPONSES_PATH, responses_body, CHAT_MODEL, "chat form", direct=False),
    _scenario("responses-stream", RESPONSES_PATH, responses_body, CHAT_MODEL, "chat form", direct=False),
    _scenario("responses-native", RESPONSES_PATH, responses_body, OPENAI_NATIVE_MODEL, "native", direct=True),
    _scenario("responses-native-stream", RESPONSES_PATH, responses_body, OPENAI_NATIVE_MODEL, "native", direct=True),
)}  # fmt: skip
DIALECT_SCENARIOS = ",".join(SCENARIOS)


class UnknownScenarioError(ValueError):
    """A scenario name that :data:`SCENARIOS` does not hold."""


def scenarios_choose(raw: str) -> list[RequestScenario]:
    """The scenarios named in a comma-separated list, in table order, each with its baseline
    added: a ratio needs chat measured in the same run, on the same process."""
    names = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = sorted(names - set(SCENARIOS))
    if unknown:
        raise UnknownScenarioError(f"unknown scenario(s) {', '.join(unknown)}; known: {DIALECT_SCENARIOS}")
    if not names:
        raise UnknownScenarioError(f"no scenario named; known: {DIALECT_SCENARIOS}")
    names |= {SCENARIOS[name].baseline for name in names}
    return [scenario for name, scenario in SCENARIOS.items() if name in names]


def ratios_to_baseline(values: dict[str, float]) -> dict[str, float | None]:
    """Each scenario's value divided by its baseline's (None when the baseline is missing or 0)."""
    ratios: dict[str, float | None] = {}
    for name, value in values.items():
        base = values.get(SCENARIOS[name].baseline)
        ratios[name] = round(value / base, 4) if base else None
    return ratios
