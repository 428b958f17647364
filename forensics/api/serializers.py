"""The management audit trail on the wire (SPEC 5.7)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import OBJECT_FIELDS, ObjectSerializer
from forensics.models import ActorType, Event


class EventActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ActorType.values)
    id = serializers.CharField(allow_null=True, help_text="org key id or console user id; null for system")


@extend_schema_field(
    {
        "type": "object",
        "description": (
            "`{field: {before, after}}`; a changed secret shows `{before: null, after: null, changed: true}`"
        ),
        "additionalProperties": {
            "type": "object",
            "properties": {"before": {"nullable": True}, "after": {"nullable": True}, "changed": {"type": "boolean"}},
        },
    }
)
class ChangesField(serializers.JSONField):
    """The recorded changes, as stored (services strip secrets before recording)."""


class EventSerializer(ObjectSerializer):
    """One management action with the before/after value of each changed field; never a secret."""

    object_type = "event"
    actor = serializers.SerializerMethodField()
    changes = ChangesField()

    class Meta:
        model = Event
        fields = [*OBJECT_FIELDS, "actor", "action", "object_type", "object_id", "changes"]
        read_only_fields = fields

    @extend_schema_field(EventActorSerializer)
    def get_actor(self, event: Event) -> dict[str, Any]:
        return {"type": event.actor_type, "id": event.actor_id}
