"""Validation of policy fields (SPEC 3.4), shared by the admin, the API and the services."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError

from core.validation import globs_clean, restriction_list_clean

ENDPOINTS = ("chat", "embeddings", "models")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def timezone_clean(value: Any, *, field: str = "timezone") -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError({field: "must be an IANA time zone name such as Europe/Paris"})
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError({field: f"unknown time zone {value[:64]!r}"}) from exc
    return value


def allowed_hours_clean(value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError({"allowed_hours": "must be an object {timezone, days, start, end} or null"})
    unknown = set(value) - {"timezone", "days", "start", "end"}
    if unknown:
        raise ValidationError({"allowed_hours": f"unknown fields: {', '.join(sorted(unknown))}"})
    days = value.get("days", list(WEEKDAYS))
    if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
        raise ValidationError({"allowed_hours": "days must be a non-empty list of mon..sun"})
    start, end = value.get("start"), value.get("end")
    for name, hhmm in (("start", start), ("end", end)):
        if not isinstance(hhmm, str) or not HHMM_RE.match(hhmm):
            raise ValidationError({"allowed_hours": f"{name} must be HH:MM"})
    tz = timezone_clean(value.get("timezone", "UTC"), field="allowed_hours")
    return {"timezone": tz, "days": days, "start": start, "end": end}


def policy_fields_clean(
    *, allowed_models: Any, allowed_endpoints: Any, allowed_hours: Any, timezone: Any
) -> dict[str, Any]:
    endpoints = restriction_list_clean(allowed_endpoints, field="allowed_endpoints")
    if endpoints is not None and any(e not in ENDPOINTS for e in endpoints):
        raise ValidationError({"allowed_endpoints": f"each must be one of {', '.join(ENDPOINTS)}"})
    return {
        "allowed_models": globs_clean(allowed_models),
        "allowed_endpoints": endpoints,
        "allowed_hours": allowed_hours_clean(allowed_hours),
        "timezone": timezone_clean(timezone),
    }
