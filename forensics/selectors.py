"""Reads of the forensic record and the management audit trail, always within one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from forensics.models import Event


def event_list(
    *, tenant_id: str, object_id: str | None = None, action: str | None = None, object_type: str | None = None
) -> QuerySet[Event]:
    """The tenant's management events, optionally narrowed to one object, action or type."""
    if not tenant_id:
        raise ValueError("a tenant is required")
    events = Event.objects.filter(tenant_id=tenant_id)
    if object_id:
        events = events.filter(object_id=object_id)
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    return events
