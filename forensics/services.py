"""Writes of the management audit trail."""

from __future__ import annotations

from typing import Any

from core.actors import Actor
from forensics.models import Event


def event_record(
    *,
    tenant_id: str,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    changes: dict[str, Any] | None = None,
) -> Event:
    """Record one management action; callers pass changes already stripped of secrets."""
    return Event.objects.create(
        tenant_id=tenant_id,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=changes or {},
    )
