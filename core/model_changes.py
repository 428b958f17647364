"""Apply field updates to a model instance and report what changed (for the event trail)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models

SECRET_FIELDS = frozenset({"digest", "api_key", "api_key_encrypted", "key", "password"})


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def model_update(instance: models.Model, data: dict[str, Any], *, fields: list[str]) -> dict[str, dict[str, Any]]:
    """Set the given fields, validate the whole instance, save, and return ``{field: {before, after}}``.

    Secret fields are reported as changed without their values.
    """
    changes: dict[str, dict[str, Any]] = {}
    for field in fields:
        if field not in data:
            continue
        before, after = getattr(instance, field), data[field]
        if before != after:
            setattr(instance, field, after)
            changes[field] = {"before": _plain(before), "after": _plain(after)}
    if changes:
        instance.full_clean()
        # full_clean may normalise values (e.g. lower-case domains): report what was stored.
        for field in changes:
            changes[field]["after"] = _plain(getattr(instance, field))
            if field in SECRET_FIELDS:
                changes[field] = {"before": None, "after": None, "changed": True}
        instance.save()
    return changes


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, dict[str, Any]]:
    """The ``changes`` of a creation: every listed field from nothing to its value."""
    return {f: {"before": None, "after": _plain(getattr(instance, f))} for f in fields if f not in SECRET_FIELDS}
