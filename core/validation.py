"""Validators for values that several models and both APIs accept (one rule, one place).

The naming rule of the project, for validators here and in every app's rule modules:

- ``<thing>_clean(value)`` checks a value and returns it normalised, raising
  ``ValidationError`` that names the field;
- ``<rule>_check(...)`` enforces a rule on values already clean, raising the domain's error
  (``ValidationError`` or the SPEC's ``GatewayError``) when it is broken;
- ``is_<thing>(value)`` answers yes or no and never raises.

``validate_<field>`` is left to DRF's and Django's own hooks."""

from __future__ import annotations

import re
from typing import Any

import re2
from django.core.exceptions import ValidationError

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
TOKEN_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_GLOB_LENGTH = 200
# The scopes of the proxy's endpoints (SPEC 2): what a key carries and a token's scopes map to.
GATEWAY_SCOPES = ("chat:completions", "embeddings", "models:read")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused glob is answered as a 400; no pattern text on stderr
# SPEC 3.6: what a model name may hold, so that it can never reshape an upstream URL.
MODEL_NAME_RE = re.compile(r"[A-Za-z0-9._:@/+-]{1,256}")


def is_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL_RE.match(value) is not None


def is_model_name(value: object) -> bool:
    """At most 256 characters of ``[A-Za-z0-9._:@/+-]``, without ``..``, ``//`` or a leading ``/``."""
    return (
        isinstance(value, str)
        and MODEL_NAME_RE.fullmatch(value) is not None
        and ".." not in value
        and "//" not in value
        and not value.startswith("/")
    )


def model_glob_compile(pattern: str) -> re2._Regexp:
    """An ``allowed_models`` glob as a linear-time (RE2) expression: ``*`` and ``?`` stay
    within one ``/``-separated segment (``openrouter/*`` does not reach ``openrouter/a/b``),
    ``**`` crosses segments, ``[...]`` is a character class as in fnmatch (``[!...]``
    negates and never matches ``/``; a leading ``^`` is literal). Linear time because a
    tenant's glob runs on the event loop against names it does not choose: a backtracking
    engine let ``*a*a*a*a*a*a*a*a*a*a*b`` hold a process for seconds. Raises ``re2.error``
    for a pattern that does not compile."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and (end := pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)) > 0:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                out.append("[^/" + body[1:] + "]")
            else:
                out.append("[" + ("\\" + body if body.startswith("^") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re2.compile("".join(out), _RE2_OPTIONS)


def restriction_list_clean(value: Any, *, field: str, allow_empty: bool = False) -> list[str] | None:
    """``None`` means no restriction; ``[]`` is refused unless the field allows it (SPEC 1)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({field: "must be a list of strings or null"})
    if not value and not allow_empty:
        raise ValidationError({field: "must not be empty; use null for no restriction"})
    return value


def globs_clean(value: Any, *, field: str = "allowed_models") -> list[str] | None:
    patterns = restriction_list_clean(value, field=field)
    if patterns is None:
        return None
    for pattern in patterns:
        if not pattern or len(pattern) > MAX_GLOB_LENGTH or pattern != pattern.strip():
            raise ValidationError({field: f"invalid pattern {pattern[:40]!r}"})
        try:
            model_glob_compile(pattern)
        except re2.error as exc:
            raise ValidationError({field: f"invalid pattern {pattern[:40]!r}"}) from exc
    return patterns


def domains_clean(value: Any, *, field: str = "allowed_user_domains", allow_empty: bool = False) -> list[str] | None:
    domains = restriction_list_clean(value, field=field, allow_empty=allow_empty)
    if domains is None:
        return None
    for domain in domains:
        if not DOMAIN_RE.match(domain):
            raise ValidationError({field: f"{domain[:60]!r} is not a domain name"})
    return [d.lower() for d in domains]
