"""Checks of what an authenticated caller may do: scopes, and the allowed-models match that
policy resolution applies to every model list."""

from __future__ import annotations

import logging
from typing import Any

import re2

from core.errors import forbidden
from core.validation import model_glob_compile

logger = logging.getLogger(__name__)

ENDPOINT_SCOPES = {"chat": "chat:completions", "embeddings": "embeddings", "models": "models:read"}


def scope_check(endpoint: str, scopes: frozenset[str]) -> None:
    needed = ENDPOINT_SCOPES[endpoint]
    if needed not in scopes:
        raise forbidden("scope_missing", f"the credential lacks the scope {needed!r}")


_compiled_globs: dict[str, Any] = {}
_NOTHING = object()


def patterns_match_model(patterns: tuple[str, ...] | None, model: str) -> bool:
    """``None`` means no restriction; patterns are case-sensitive globs whose ``*`` stays
    within one ``/``-separated segment (``core.validation.model_glob_compile``, SPEC 3.4, 3.6)."""
    if patterns is None:
        return True
    for pattern in patterns:
        compiled = _compiled_globs.get(pattern)
        if compiled is None:
            if len(_compiled_globs) > 10_000:
                _compiled_globs.clear()
            try:
                compiled = model_glob_compile(pattern)
            except re2.error:
                # Stored before today's validation: it matches nothing (refusing is the safe side).
                logger.warning("an allowed_models pattern does not compile; it matches no model")
                compiled = _NOTHING
            _compiled_globs[pattern] = compiled
        if compiled is not _NOTHING and compiled.fullmatch(model):
            return True
    return False
