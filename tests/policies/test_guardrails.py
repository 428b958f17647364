"""Guardrails (SPEC 3.5): blocked patterns, PII redact/block, prompt size; nothing blocked
ever reaches the upstream, and redaction happens before the request leaves the gateway."""

from __future__ import annotations

import json
import time

import pytest

from apps.services import guardrails_put
from core.actors import SYSTEM
from forensics.models import RequestLog
from proxy.guardrails import luhn_valid, pii_find, pii_redact
from tests.policies.conftest import call


def guard(world, **fields) -> None:
    guardrails_put(app=world.app, actor=SYSTEM, data=fields)


def ask(world, *contents, model: str = "gpt-4o"):
    messages = [{"role": "user", "content": c} for c in contents]
    return call(world, model, messages=messages)


def test_it_blocks_a_named_pattern_and_sends_nothing_upstream(world):
    guard(world, blocked_patterns=[{"name": "secret_project", "pattern": r"(?i)project\s+zeus"}])
    response = ask(world, "tell me about Project   Zeus")
    assert response.status_code == 400
    assert response.json()["error"] | {"message": None, "request_id": None} == {
        "code": "guardrail_violation", "reason": "secret_project", "type": "invalid_request_error",
        "message": None, "request_id": None,
    }  # fmt: skip
    assert world.upstream.requests == []


def test_it_checks_every_content_part_of_every_message(world):
    guard(world, blocked_patterns=[{"name": "nope", "pattern": "forbidden"}])
    parts = [{"type": "text", "text": "fine"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
             {"type": "text", "text": "this is forbidden"}]  # fmt: skip
    response = call(world, "gpt-4o", messages=[{"role": "system", "content": "ok"}, {"role": "user", "content": parts}])
    assert response.json()["error"]["reason"] == "nope"


def tool_call(arguments) -> dict:
    return {"id": "call_1", "type": "function", "function": {"name": "send", "arguments": arguments}}


def tool(description, name: str = "send") -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {}}}


def carrying(text: str) -> dict[str, dict]:
    """Request bodies (beyond model) that carry ``text`` toward the model in each place SPEC 3.5 names."""
    ask_ = {"role": "user", "content": "go"}
    return {
        "tool-call arguments": {
            "messages": [ask_, {"role": "assistant", "content": None, "tool_calls": [tool_call(f'{{"q": "{text}"}}')]},
                         {"role": "tool", "tool_call_id": "call_1", "content": "done"}],
        },
        "legacy function-call arguments": {
            "messages": [ask_, {"role": "assistant", "content": None,
                                "function_call": {"name": "send", "arguments": f'{{"q": "{text}"}}'}}],
        },
        "tool description": {"messages": [ask_], "tools": [tool("fine"), tool(f"sends {text}", "other")]},
        "legacy function description": {
            "messages": [ask_], "functions": [{"name": "send", "description": f"sends {text}", "parameters": {}}],
        },
        "tool result": {
            "messages": [ask_, {"role": "assistant", "content": None, "tool_calls": [tool_call("{}")]},
                         {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": text}]}],
        },
    }  # fmt: skip


@pytest.mark.parametrize("where", list(carrying("x")))
def test_it_blocks_a_pattern_wherever_the_request_carries_it_toward_the_model(world, where):
    guard(world, blocked_patterns=[{"name": "secret_project", "pattern": r"(?i)project\s+zeus"}])
    response = call(world, "gpt-4o", **carrying("Project Zeus")[where])
    assert (response.status_code, response.json()["error"]["reason"]) == (400, "secret_project")
    assert world.upstream.requests == []


@pytest.mark.parametrize("where", list(carrying("x")))
def test_it_blocks_pii_wherever_the_request_carries_it_toward_the_model(world, where):
    guard(world, pii="block")
    response = call(world, "gpt-4o", **carrying("jane@corp.example")[where])
    assert (response.status_code, response.json()["error"]["reason"]) == (400, "pii_email")
    assert world.upstream.requests == []


def test_it_redacts_inside_tool_call_arguments_and_keeps_them_a_json_string(world):
    guard(world, pii="redact")
    arguments = json.dumps({"to": "jane@corp.example", "note": "call +14155550123 today"})
    completion = world.sdk().chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "mail her"},
            {"role": "assistant", "content": None, "tool_calls": [tool_call(arguments)]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sent to jane@corp.example"},
        ],
        tools=[tool("sends mail; replies go to ops@corp.example")],
    )
    assert completion.choices[0].message.content == "Hello from upstream"
    sent = world.upstream.last().json
    sent_arguments = sent["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert isinstance(sent_arguments, str)
    assert json.loads(sent_arguments) == {"to": "[REDACTED:email]", "note": "call [REDACTED:phone] today"}
    assert sent["messages"][2]["content"] == "sent to [REDACTED:email]"
    assert sent["tools"][0]["function"]["description"] == "sends mail; replies go to [REDACTED:email]"


def test_it_counts_tool_text_toward_max_prompt_chars(world):
    guard(world, max_prompt_chars=20)
    body = carrying("x" * 10)["tool-call arguments"]  # "go" + 'done' + 19 characters of arguments
    response = call(world, "gpt-4o", **body)
    assert (response.status_code, response.json()["error"]["reason"]) == (400, "max_prompt_chars")
    assert world.upstream.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "assistant", "content": None, "tool_calls": [tool_call({"q": "Project Zeus"})]}]},
        {"messages": [{"role": "user", "content": "go"}], "tools": [tool(["Project Zeus"])]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": {"t": "Project Zeus"}}]}]},
    ],
)
def test_it_refuses_tool_text_that_is_not_a_string_rather_than_pass_it_unchecked(world, body):
    guard(world, blocked_patterns=[{"name": "secret_project", "pattern": r"(?i)project\s+zeus"}])
    response = call(world, "gpt-4o", **body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_request")
    assert world.upstream.requests == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("mail me at jane.doe@corp.example", "email"),
        ("call +14155550123 now", "phone"),
        ("call (415) 555-0123", "phone"),
        ("call 415-555-0123", "phone"),
        ("card 4111 1111 1111 1111", "card"),
        ("card 4111-1111-1111-1111", "card"),
        ("ssn 123-45-6789", "ssn"),
    ],
)
def test_it_blocks_each_kind_of_pii(world, text, kind):
    guard(world, pii="block")
    response = ask(world, text)
    assert (response.status_code, response.json()["error"]["reason"]) == (400, f"pii_{kind}")
    assert world.upstream.requests == []


def test_it_redacts_pii_before_the_request_leaves_the_gateway(world):
    guard(world, pii="redact")
    response = ask(world, "I am jane@corp.example, card 4111 1111 1111 1111, phone +14155550123, ssn 123-45-6789")
    assert response.status_code == 200
    sent = world.upstream.last().json["messages"][0]["content"]
    assert sent == "I am [REDACTED:email], card [REDACTED:card], phone [REDACTED:phone], ssn [REDACTED:ssn]"


def test_it_captures_the_redacted_body_not_the_original(world):
    from apps.services import app_update

    app_update(app=world.app, actor=SYSTEM, data={"capture_bodies": True})
    guard(world, pii="redact")
    response = ask(world, "I am jane@corp.example")
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert "[REDACTED:email]" in record.request_body
    assert "jane@corp.example" not in record.request_body
    assert "Hello from upstream" in record.response_body


def test_it_redacts_embeddings_input_too(world):
    guard(world, pii="redact")
    response = call(world, "text-embedding-3-small", path="/v1/embeddings", input=["bob@corp.example", "x"])
    assert response.status_code == 200
    assert world.upstream.last().json["input"] == ["[REDACTED:email]", "x"]


def test_it_refuses_a_prompt_over_max_prompt_chars(world):
    guard(world, max_prompt_chars=10)
    assert ask(world, "12345", "67890").status_code == 200
    response = ask(world, "12345", "678901")
    assert response.json()["error"]["reason"] == "max_prompt_chars"


def test_put_replaces_the_whole_object(world):
    guard(world, pii="block", max_prompt_chars=5)
    guard(world, blocked_patterns=[{"name": "x", "pattern": "zzz"}])
    assert ask(world, "jane@corp.example is long").status_code == 200  # pii and size back to defaults


def test_a_catastrophic_pattern_cannot_hang_the_gateway(world):
    # The regex module defuses many classic ReDoS shapes; this one it cannot (and the `$` keeps
    # it away from RE2, whose `$` means something else).
    guard(world, blocked_patterns=[{"name": "redos", "pattern": r"^(a|a)*$"}])
    started = time.monotonic()
    response = ask(world, "a" * 40 + "!")
    assert time.monotonic() - started < 2
    # Checks that cannot finish in the request's budget refuse it: content never slips through.
    assert (response.status_code, response.json()["error"]["reason"]) == (400, "guardrail_timeout")
    assert world.upstream.requests == []


def test_it_bounds_the_whole_request_not_each_text(world):
    # ~14 ms a text, well under the old 50 ms per text: 500 of them used to take 7 s and pass.
    guard(world, blocked_patterns=[{"name": "redos", "pattern": r"^(a|a)*$"}])
    response = ask(world, *["a" * 16 + "!"] * 500)
    assert (response.status_code, response.json()["error"]["reason"]) == (400, "guardrail_timeout")
    assert world.upstream.requests == []


def test_it_bounds_pii_detection_by_the_same_budget(world):
    # Each e-mail is cheap to find, but 140,000 of them (a 1 MB prompt) outrun the budget, and
    # a redaction that cannot finish must not send the rest of the text unredacted.
    guard(world, pii="redact")
    response = ask(world, "a@b.co " * 140_000)
    assert (response.status_code, response.json()["error"]["reason"]) == (400, "guardrail_timeout")
    assert world.upstream.requests == []


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(?i)project\s+zeus", "PROJECT\u00a0zeus"),  # Unicode \s, though RE2's own \s is ASCII
        (r"\d{4}", "pin \u0661\u0662\u0663\u0664"),  # Arabic-Indic digits are \d to `regex`
        (r"(\w)\1{3}", "zzzz"),  # a backreference: `regex` runs it
        (r"secret$", "the secret\n"),  # `$` before a final newline: `regex` runs it
    ],
)
def test_it_keeps_each_patterns_meaning_whichever_engine_runs_it(world, pattern, text):
    guard(world, blocked_patterns=[{"name": "rule", "pattern": pattern}])
    assert ask(world, text).json()["error"]["reason"] == "rule"
    assert world.upstream.requests == []


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0000000000000", True),
     ("1234567812345678", False)],
)  # fmt: skip
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


def test_it_ignores_card_like_numbers_failing_luhn():
    assert pii_find("order 1234 5678 1234 5678") is None
    assert pii_redact("order 1234 5678 1234 5678") == "order 1234 5678 1234 5678"
