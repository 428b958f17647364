"""Finding the credential of a request (SPEC 3.1) and telling what kind it is."""

from __future__ import annotations

import re

from keys.secrets import AGENT_KEY_PREFIX, ORG_KEY_PREFIX

JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)


def strip_bearer(value: str) -> str:
    """A leading ``Bearer `` (any case) is dropped in every location (SPEC 3.1)."""
    return _BEARER.sub("", value.strip(), count=1).strip()


def credential_find(
    headers: dict[str, str], query: dict[str, str], *, key_name: str | None = None, key_location: str = "header"
) -> str | None:
    """The secret a request carries, from the app's configured place or the default headers.

    ``headers`` has lower-case names. With an app context the app's ``key_name`` and
    ``key_location`` are looked at first; the default places (``Authorization: Bearer`` and
    ``X-API-Key``) are looked at on plain ``/v1`` paths, where ``key_name`` is None.
    """
    candidates: list[str | None] = []
    if key_name:
        if key_location == "query":
            candidates.append(query.get(key_name))
        else:
            candidates.append(headers.get(key_name.lower()))
    else:
        candidates.extend((headers.get("authorization"), headers.get("x-api-key")))
    for raw in candidates:
        if raw:
            secret = strip_bearer(raw)
            if secret:
                return secret
    return None


def credential_kind(secret: str) -> str:
    """``agent_key``, ``org_key``, ``jwt`` or ``unknown``."""
    if secret.startswith(AGENT_KEY_PREFIX):
        return "agent_key"
    if secret.startswith(ORG_KEY_PREFIX):
        return "org_key"
    if len(secret) < 8192 and JWT_SHAPE.match(secret):
        return "jwt"
    return "unknown"
