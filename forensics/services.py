"""Writes of the management audit trail.

Every service that changes configuration records the change with :func:`event_record`,
handing it the object it changed: the tenant, the object's type and its id come from the
object, so no caller spells them out (or gets one wrong). :func:`event_record_raw` is for
the few events about something that is not one object (a retention run's pruned records).
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models

from core.actors import Actor
from core.model_changes import model_update
from forensics.models import Event

# The event trail's names for objects whose type or id is not the model's own (SPEC 5.7:
# ``object_type`` filters by these). A membership is recorded as the user it admits, and an
# app's guardrails by the app's id, which is also their primary key.
EVENT_OBJECT_TYPES = {"tenants.Membership": "user", "apps.GuardrailPolicy": "guardrails"}
EVENT_OBJECT_IDS = {"tenants.Membership": "user_id"}
_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


def event_object_type(model: type[models.Model]) -> str:
    """``model_price`` for ``ModelPrice``, unless the trail names the model otherwise."""
    return EVENT_OBJECT_TYPES.get(model._meta.label) or _WORD_START.sub("_", model.__name__).lower()


def _tenant_of(obj: models.Model) -> str:
    # A tenant's own events (created, updated) belong to the tenant itself.
    return obj.pk if obj._meta.label == "tenants.Tenant" else obj.tenant_id


def event_record(obj: models.Model, *, actor: Actor, action: str, changes: dict[str, Any] | None = None) -> Event:
    """Record one management action on ``obj``; callers pass changes already stripped of secrets."""
    object_id = getattr(obj, EVENT_OBJECT_IDS.get(obj._meta.label, "pk"))
    return event_record_raw(
        tenant_id=_tenant_of(obj),
        actor=actor,
        action=action,
        object_type=event_object_type(type(obj)),
        object_id=str(object_id),
        changes=changes,
    )


def event_record_raw(
    *,
    tenant_id: str,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    changes: dict[str, Any] | None = None,
) -> Event:
    """Record an action that names its object itself (no model instance stands for it)."""
    return Event.objects.create(
        tenant_id=tenant_id,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=changes or {},
    )


def update_recorded(
    obj: models.Model, data: dict[str, Any], *, fields: list[str], actor: Actor, action: str
) -> dict[str, dict[str, Any]]:
    """Apply ``data`` to ``obj`` (:func:`core.model_changes.model_update`) and record ``action``
    with what changed; nothing changed, nothing recorded. Returns the changes."""
    changes = model_update(obj, data, fields=fields)
    if changes:
        event_record(obj, actor=actor, action=action, changes=changes)
    return changes
