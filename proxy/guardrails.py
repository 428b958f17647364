"""Content guardrails of an app (SPEC 3.5), applied to every text part of every message
(and to embeddings input) before anything leaves the gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import regex

from core.errors import GatewayError
from proxy.config_snapshot import GuardrailEntry

# A pattern gets this long per text part; a pattern that needs more is treated as a match,
# so a catastrophic regex can neither stall a worker nor be used to slip content through.
PATTERN_TIMEOUT_SECONDS = 0.05

EMAIL = regex.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SSN = regex.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
CARD_CANDIDATE = regex.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
PHONE = regex.compile(
    r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)"  # E.164
    r"|(?<!\d)\(\d{3}\)[ ]?\d{3}[-. ]\d{4}(?!\d)"  # (415) 555-0123
    r"|(?<![\d-])\d{3}[-.]\d{3}[-.]\d{4}(?![\d-])"  # 415-555-0123
)


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


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for match in CARD_CANDIDATE.finditer(text):
        digits = regex.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield match.span()


def _spans(pattern: regex.Pattern) -> Callable[[str], Iterator[tuple[int, int]]]:
    return lambda text: (m.span() for m in pattern.finditer(text))


# Order matters for redaction: cards and SSNs before phones, whose digits they contain.
PII_DETECTORS: tuple[tuple[str, Callable[[str], Iterator[tuple[int, int]]]], ...] = (
    ("email", _spans(EMAIL)),
    ("card", _cards),
    ("ssn", _spans(SSN)),
    ("phone", _spans(PHONE)),
)


DIGIT = regex.compile(r"\d")


def _detectors_for(text: str) -> tuple[tuple[str, Callable[[str], Iterator[tuple[int, int]]]], ...]:
    """Only the detectors that can match: an e-mail needs an ``@``, every other kind a digit.
    Most prompts have neither, and the four scans cost ~25-50 µs per text part."""
    if DIGIT.search(text) is not None:
        return PII_DETECTORS if "@" in text else PII_DETECTORS[1:]
    return PII_DETECTORS[:1] if "@" in text else ()


def violation(reason: str, message: str) -> GatewayError:
    return GatewayError(400, "guardrail_violation", message, reason)


def pii_redact(text: str) -> str:
    for kind, detect in _detectors_for(text):
        spans = list(detect(text))
        for start, end in reversed(spans):
            text = text[:start] + f"[REDACTED:{kind}]" + text[end:]
    return text


def pii_find(text: str) -> str | None:
    for kind, detect in _detectors_for(text):
        if next(iter(detect(text)), None) is not None:
            return kind
    return None


def _text_slots(body: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """(container, index) of every text in the request, so it can be read and replaced."""
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield message, "content"
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part, "text"
    value = body.get("input")
    if isinstance(value, str):
        yield body, "input"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield value, index


def guardrails_apply(guardrails: GuardrailEntry, body: dict[str, Any]) -> bool:
    """Refuse or redact in place; returns whether the body was changed."""
    if not guardrails.active:
        return False
    slots = list(_text_slots(body))
    if guardrails.max_prompt_chars is not None:
        total = sum(len(container[index]) for container, index in slots)
        if total > guardrails.max_prompt_chars:
            raise violation(
                "max_prompt_chars", f"the prompt has {total} characters; at most {guardrails.max_prompt_chars}"
            )
    for container, index in slots:
        text = container[index]
        for name, pattern in guardrails.blocked_patterns:
            try:
                found = pattern.search(text, timeout=PATTERN_TIMEOUT_SECONDS)
            except TimeoutError:
                found = True
            if found:
                raise violation(name, f"the request matches the blocked pattern {name!r}")
    if guardrails.pii == "block":
        for container, index in slots:
            kind = pii_find(container[index])
            if kind:
                raise violation(f"pii_{kind}", f"the request contains personal data ({kind})")
        return False
    if guardrails.pii == "redact":
        changed = False
        for container, index in slots:
            redacted = pii_redact(container[index])
            if redacted != container[index]:
                container[index] = redacted
                changed = True
        return changed
    return False
