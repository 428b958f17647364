"""Agents on the wire (SPEC 5.2)."""

from __future__ import annotations

from rest_framework import serializers

from core.api.serializers import (
    OBJECT_FIELDS,
    InputSerializer,
    ObjectSerializer,
    TenantObjectField,
    related_selector,
    string_list,
)
from identity.models import Agent, AgentStatus


class AgentSerializer(ObjectSerializer):
    """An AI workload. `fingerprint` is the SHA-256 of its identity document, fixed for its life."""

    object_type = "agent"
    app_id = serializers.CharField(allow_null=True)
    allowed_models = string_list(allow_null=True, help_text="glob patterns; null = no restriction")
    metadata = serializers.DictField()

    class Meta:
        model = Agent
        fields = [
            *OBJECT_FIELDS, "updated_at", "name", "description", "app_id", "allowed_models", "status", "metadata",
            "owner_email", "fingerprint",
        ]  # fmt: skip
        read_only_fields = fields


class AgentInputSerializer(InputSerializer):
    """Create (POST) or change (PATCH, every field optional) an agent."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False)
    app_id = TenantObjectField(
        selector=related_selector(Agent, "app"),
        id_arg="object_id",
        noun="app",
        source="app",
        allow_null=True,
        required=False,
    )
    allowed_models = string_list(
        allow_null=True, required=False, help_text="glob patterns; null = no restriction; [] is refused"
    )
    status = serializers.ChoiceField(choices=AgentStatus.values, required=False)
    metadata = serializers.DictField(required=False)
    owner_email = serializers.EmailField(allow_blank=True, required=False)


class AgentIdentityDocumentSerializer(serializers.Serializer):
    """What never changes for the agent's life; `fingerprint` is the SHA-256 hex of this object
    in canonical JSON (sorted keys, no blanks)."""

    object = serializers.CharField()
    id = serializers.CharField()
    tenant_id = serializers.CharField()
    created_at = serializers.CharField()


class AgentIdentitySerializer(serializers.Serializer):
    """The agent's identity document, its fingerprint, and both signed (SPEC 3.10)."""

    agent = AgentIdentityDocumentSerializer()
    fingerprint = serializers.CharField()
    token = serializers.CharField(
        help_text="ES256 JWT (header `kid`) of the agent's identity claims, valid 24 hours; "
        "verify it with the keys at /.well-known/jwks.json"
    )


class JwksSerializer(serializers.Serializer):
    """The public keys that verify `X-Agent-Identity` and agent identity tokens (RFC 7517)."""

    keys = serializers.ListField(child=serializers.DictField())
