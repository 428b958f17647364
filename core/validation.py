"""Validators for values that several models and both APIs accept (one rule, one place)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

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


def is_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL_RE.match(value) is not None


def validate_restriction_list(value: Any, *, field: str, allow_empty: bool = False) -> list[str] | None:
    """``None`` means no restriction; ``[]`` is refused unless the field allows it (SPEC 1)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({field: "must be a list of strings or null"})
    if not value and not allow_empty:
        raise ValidationError({field: "must not be empty; use null for no restriction"})
    return value


def validate_globs(value: Any, *, field: str = "allowed_models") -> list[str] | None:
    patterns = validate_restriction_list(value, field=field)
    if patterns is None:
        return None
    for pattern in patterns:
        if not pattern or len(pattern) > MAX_GLOB_LENGTH or pattern != pattern.strip():
            raise ValidationError({field: f"invalid pattern {pattern[:40]!r}"})
        try:
            re.compile(fnmatch.translate(pattern))
        except re.error as exc:
            raise ValidationError({field: f"invalid pattern {pattern[:40]!r}"}) from exc
    return patterns


def validate_domains(value: Any, *, field: str = "allowed_user_domains", allow_empty: bool = False) -> list[str] | None:
    domains = validate_restriction_list(value, field=field, allow_empty=allow_empty)
    if domains is None:
        return None
    for domain in domains:
        if not DOMAIN_RE.match(domain):
            raise ValidationError({field: f"{domain[:60]!r} is not a domain name"})
    return [d.lower() for d in domains]
