"""Validation of key fields shared by the admin, the API and the services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from core.validation import GATEWAY_SCOPES

# What an agent key may be used for on the proxy (SPEC 5.3), in the order they are listed.
SCOPES = GATEWAY_SCOPES

MIN_LIFETIME_DAYS = 1
MAX_LIFETIME_DAYS = 365
MAX_GRACE_SECONDS = 7 * 24 * 3600


def scopes_clean(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or any(s not in SCOPES for s in value):
        raise ValidationError({"scopes": f"must be a non-empty list of {', '.join(SCOPES)}"})
    return sorted(set(value), key=SCOPES.index)


def lifetime_days_clean(value: Any, *, field: str = "expires_in_days") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_LIFETIME_DAYS <= value <= MAX_LIFETIME_DAYS:
        raise ValidationError({field: f"must be an integer from {MIN_LIFETIME_DAYS} to {MAX_LIFETIME_DAYS}"})
    return value


def grace_seconds_clean(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_GRACE_SECONDS:
        raise ValidationError({"grace_seconds": f"must be an integer from 0 to {MAX_GRACE_SECONDS}"})
    return value
