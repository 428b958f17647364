"""Validation of guardrail settings (SPEC 3.5): the one place their limits live, called by the
model's ``clean`` and so by every writer (``guardrails_put`` from the API and the console)."""

from __future__ import annotations

from typing import Any

import regex
from django.core.exceptions import ValidationError

# Bounds on what a tenant may ask every request of its app to be scanned with (SPEC 3.5); the
# proxy's per-request time budget holds whatever the patterns are, these keep the work and
# the compiled configuration small.
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 1000
MAX_NAME_LENGTH = 64


def blocked_patterns_clean(value: Any) -> list[dict[str, str]]:
    """Each entry is ``{name, pattern}``: at most ``MAX_PATTERNS`` of them, each pattern a
    ``regex`` expression of at most ``MAX_PATTERN_LENGTH`` characters that compiles."""
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
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or name in names:
            raise ValidationError(
                {"blocked_patterns": f"names must be unique non-empty strings ({MAX_NAME_LENGTH} chars max)"}
            )
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise ValidationError(
                {
                    "blocked_patterns": f"pattern of {name!r} must be a non-empty string of at most "
                    f"{MAX_PATTERN_LENGTH} characters"
                }
            )
        try:
            regex.compile(pattern)
        except regex.error as exc:
            raise ValidationError({"blocked_patterns": f"pattern of {name!r} does not compile: {exc}"}) from exc
        names.add(name)
        cleaned.append({"name": name, "pattern": pattern})
    return cleaned
