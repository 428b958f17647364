"""Content guardrails of an app (SPEC 3.5), applied to every text the request carries toward
the model (contents, tool-call arguments, tool descriptions, embeddings input) before anything
leaves the gateway."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import re2
import regex

from core.errors import GatewayError, invalid_request
from proxy.config_snapshot import GuardrailEntry
from proxy.guardrail_patterns import RE2_OPTIONS, BlockedPattern

# All guardrail work of one request together (SPEC 3.5): the event loop serves every tenant
# of the process, so no request may hold it longer than this with its patterns and prompt.
# Beyond it the request is refused (reason guardrail_timeout), never sent unchecked.
BUDGET_SECONDS = 0.1

# E-mail is the one PII shape that backtracks badly ("aaaa…@" is quadratic in ``regex``; see
# docs/policies.md → Engines and the time budget); it needs no lookaround, so RE2 runs it in
# linear time.
EMAIL = re2.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", RE2_OPTIONS)
# The others need lookarounds (``regex``) but repeat only a bounded number of times, so they
# stay linear; they still run under the request's budget.
SSN = regex.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
CARD_CANDIDATE = regex.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
PHONE = regex.compile(
    r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)"  # E.164
    r"|(?<!\d)\(\d{3}\)[ ]?\d{3}[-. ]\d{4}(?!\d)"  # (415) 555-0123
    r"|(?<![\d-])\d{3}[-.]\d{3}[-.]\d{4}(?![\d-])"  # 415-555-0123
)


def violation(reason: str, message: str) -> GatewayError:
    return GatewayError(400, "guardrail_violation", message, reason)


def budget_exhausted() -> GatewayError:
    return violation("guardrail_timeout", "the guardrail checks of this request did not finish within their budget")


class Budget:
    """The time left for one request's guardrail work, on the monotonic clock: the wall time
    the event loop is held is what other requests of the process feel."""

    __slots__ = ("deadline",)

    def __init__(self, seconds: float = BUDGET_SECONDS) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises ``guardrail_timeout`` once there are none."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise budget_exhausted()
        return left


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


Spans = Callable[[str, Budget], Iterator[tuple[int, int]]]


def _email_spans(text: str, budget: Budget) -> Iterator[tuple[int, int]]:
    # RE2 has no timeout, but each search is linear in the text (at most 1 MiB): the budget is
    # checked before the first and between matches.
    budget.left()
    for match in EMAIL.finditer(text):
        budget.left()
        yield match.span()


def _regex_spans(pattern: regex.Pattern) -> Spans:
    def spans(text: str, budget: Budget) -> Iterator[tuple[int, int]]:
        try:
            # regex's timeout covers the whole iteration from here (in CPU time).
            for match in pattern.finditer(text, timeout=budget.left()):
                budget.left()
                yield match.span()
        except TimeoutError:
            raise budget_exhausted() from None

    return spans


def _card_spans(text: str, budget: Budget) -> Iterator[tuple[int, int]]:
    for start, end in _regex_spans(CARD_CANDIDATE)(text, budget):
        digits = text[start:end].replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield start, end


# Order matters for redaction: cards and SSNs before phones, whose digits they contain.
PII_DETECTORS: tuple[tuple[str, Spans], ...] = (
    ("email", _email_spans),
    ("card", _card_spans),
    ("ssn", _regex_spans(SSN)),
    ("phone", _regex_spans(PHONE)),
)


DIGIT = regex.compile(r"\d")


def _detectors_for(text: str) -> tuple[tuple[str, Spans], ...]:
    """Only the detectors that can match: an e-mail needs an ``@``, every other kind a digit.
    Most prompts have neither, and the four scans are then wasted work on every text part
    (docs/performance.md → Decisions)."""
    if DIGIT.search(text) is not None:
        return PII_DETECTORS if "@" in text else PII_DETECTORS[1:]
    return PII_DETECTORS[:1] if "@" in text else ()


def pii_redact(text: str, budget: Budget | None = None) -> str:
    """Each match replaced by ``[REDACTED:<kind>]``, kinds in detection order; the text is
    rebuilt once per kind (not once per match), so many matches stay linear."""
    budget = budget or Budget()
    for kind, detect in _detectors_for(text):
        pieces, last = [], 0
        for start, end in detect(text, budget):
            pieces += [text[last:start], f"[REDACTED:{kind}]"]
            last = end
        if pieces:
            pieces.append(text[last:])
            text = "".join(pieces)
    return text


def pii_find(text: str, budget: Budget | None = None) -> str | None:
    budget = budget or Budget()
    for kind, detect in _detectors_for(text):
        if next(iter(detect(text, budget)), None) is not None:
            return kind
    return None


def _blocked(pattern: BlockedPattern, text: str, encoded: bytes, budget: Budget) -> bool:
    """Whether the pattern occurs in the text, within the budget. RE2 takes time linear in the
    text (at most 1 MiB), so checking the budget before each search bounds the overrun."""
    left = budget.left()
    if pattern.linear is not None:
        return pattern.linear.search(encoded) is not None
    backtracking = pattern.backtracking
    if backtracking is None:  # blocked_pattern_compile sets one of the two
        return False
    try:
        return backtracking.search(text, timeout=left) is not None
    except TimeoutError:
        raise budget_exhausted() from None


# (container, key) of one text: ``container[key]`` is a ``str``, read and replaced in place.
TextSlot = tuple[Any, Any]
TextSlots = Callable[[dict[str, Any]], Iterator[TextSlot]]


def string_slot(container: Any, key: str, where: str) -> Iterator[TextSlot]:
    """The slot of ``container[key]`` when it holds text. Any other value but null (an object
    where OpenAI takes a string) is refused: a provider might still read text out of it, and
    text that reaches the model unchecked is what guardrails exist to prevent."""
    if not isinstance(container, dict):
        return
    value = container.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        raise invalid_request(f"{where} must be a string")
    yield container, key


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def openai_text_slots(body: dict[str, Any]) -> Iterator[TextSlot]:
    """(container, index) of every text the request carries toward the model (SPEC 3.5), so it
    can be read and replaced: message contents and their text parts (tool results included),
    the arguments of the assistant's tool calls (a JSON document in a string: checked and
    redacted as the string it is), and the descriptions of the tools and legacy functions."""
    for message in _dicts(body.get("messages")):
        content = message.get("content")
        if isinstance(content, str):
            yield message, "content"
        elif isinstance(content, list):
            for part in _dicts(content):
                yield from string_slot(part, "text", "a content part's 'text'")
        for call in _dicts(message.get("tool_calls")):
            yield from string_slot(call.get("function"), "arguments", "'tool_calls[].function.arguments'")
        yield from string_slot(message.get("function_call"), "arguments", "'function_call.arguments'")
    for tool in _dicts(body.get("tools")):
        yield from string_slot(tool.get("function"), "description", "'tools[].function.description'")
    for function in _dicts(body.get("functions")):
        yield from string_slot(function, "description", "'functions[].description'")
    value = body.get("input")
    if isinstance(value, str):
        yield body, "input"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield value, index


def guardrails_apply(
    guardrails: GuardrailEntry, body: dict[str, Any], text_slots: TextSlots = openai_text_slots
) -> bool:
    """Refuse or redact in place; returns whether the body was changed. All of it runs within
    one ``Budget`` (``BUDGET_SECONDS``), however many texts and patterns the request brings.
    ``text_slots`` finds the texts: the OpenAI bodies' by default, a dialect's own (SPEC 3.8,
    3.9) for the other formats."""
    if not guardrails.active:
        return False
    budget = Budget()
    slots = list(text_slots(body))
    if guardrails.max_prompt_chars is not None:
        total = sum(len(container[index]) for container, index in slots)
        if total > guardrails.max_prompt_chars:
            raise violation(
                "max_prompt_chars", f"the prompt has {total} characters; at most {guardrails.max_prompt_chars}"
            )
    if guardrails.blocked_patterns:
        for container, index in slots:
            text = container[index]
            # RE2 reads UTF-8: encode once per text, not once per pattern. orjson never yields
            # a lone surrogate, but surrogatepass keeps this total if something else does.
            encoded = text.encode("utf-8", "surrogatepass")
            for pattern in guardrails.blocked_patterns:
                if _blocked(pattern, text, encoded, budget):
                    raise violation(pattern.name, f"the request matches the blocked pattern {pattern.name!r}")
    if guardrails.pii == "block":
        for container, index in slots:
            kind = pii_find(container[index], budget)
            if kind:
                raise violation(f"pii_{kind}", f"the request contains personal data ({kind})")
        return False
    if guardrails.pii == "redact":
        changed = False
        for container, index in slots:
            redacted = pii_redact(container[index], budget)
            if redacted != container[index]:
                container[index] = redacted
                changed = True
        return changed
    return False
