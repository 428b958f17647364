"""Validation of guardrail settings (SPEC 3.5)."""

from __future__ import annotations

from typing import Any

import regex
from django.core.exceptions import ValidationError

MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 1000


def blocked_patterns_clean(value: Any) -> list[dict[str, str]]:
    """Each entry is ``{name, pattern}``; patterns must compile (they run with a time bound)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_PATTERNS:
        raise ValidationError({"blocked_patterns": f"must be a list of at most {MAX_PATTERNS} {{name, pattern}}"})
    cleaned = []
    names = set()
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"name", "pattern"}:
            raise ValidationError({"blocked_patterns": "each entry must be exactly {name, pattern}"})
        name, pattern = entry["name"], entry["pattern"]
        if not isinstance(name, str) or not name or len(name) > 64 or name in names:
            raise ValidationError({"blocked_patterns": "names must be unique non-empty strings (64 chars max)"})
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise ValidationError({"blocked_patterns": f"pattern of {name!r} must be a non-empty string"})
        try:
            regex.compile(pattern)
        except regex.error as exc:
            raise ValidationError({"blocked_patterns": f"pattern of {name!r} does not compile: {exc}"}) from exc
        names.add(name)
        cleaned.append({"name": name, "pattern": pattern})
    return cleaned
