"""Checks of what an authenticated caller may do: scopes, and the allowed-models match that
policy resolution applies to every model list."""

from __future__ import annotations

from fnmatch import fnmatchcase

from core.errors import forbidden

ENDPOINT_SCOPES = {"chat": "chat:completions", "embeddings": "embeddings", "models": "models:read"}


def scope_check(endpoint: str, scopes: frozenset[str]) -> None:
    needed = ENDPOINT_SCOPES[endpoint]
    if needed not in scopes:
        raise forbidden("scope_missing", f"the credential lacks the scope {needed!r}")


def model_allowed(patterns: tuple[str, ...] | None, model: str) -> bool:
    """``None`` means no restriction; patterns are case-sensitive fnmatch globs (SPEC 3.4)."""
    return patterns is None or any(fnmatchcase(model, p) for p in patterns)
