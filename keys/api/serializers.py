"""Agent keys and org keys on the wire (SPEC 5.0, 5.3). A secret appears in exactly one
response, the one that creates it, through the ``…CreatedSerializer`` classes."""

from __future__ import annotations

from rest_framework import serializers

from apps.selectors import app_get
from core.api.serializers import OBJECT_FIELDS, InputSerializer, ObjectSerializer, TenantObjectField, string_list
from keys.models import CredentialState, Key, OrgKey, OrgRole
from keys.rules import MAX_GRACE_SECONDS, MAX_LIFETIME_DAYS, MIN_LIFETIME_DAYS, SCOPES

CREDENTIAL_FIELDS = ["name", "prefix", "status", "expires_at", "last_used_at", "revoked_at"]


class CredentialStatusField(serializers.ChoiceField):
    """``active``, ``expired`` or ``revoked``, as of now (a rotated key is active until its grace ends)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=CredentialState.values, source="state", read_only=True, **kwargs)

    def to_representation(self, value: object) -> str:
        return value() if callable(value) else str(value)


class KeySerializer(ObjectSerializer):
    """An agent key. `prefix` is all that is ever shown of its secret after creation."""

    object_type = "key"
    status = CredentialStatusField()
    agent_id = serializers.CharField()
    app_id = serializers.CharField(allow_null=True, help_text="null = tenant-scoped")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES))
    allowed_user_domains = string_list(allow_null=True, help_text="null = inherit the app's; [] = any domain")
    allowed_models = string_list(allow_null=True, help_text="globs; null = inherit (the agent's list and policies)")
    rotated_to = serializers.CharField(source="rotated_to_id", allow_null=True, help_text="id of the successor")

    class Meta:
        model = Key
        fields = [
            *OBJECT_FIELDS, "updated_at", *CREDENTIAL_FIELDS, "agent_id", "app_id", "scopes", "rate_limit",
            "allowed_models", "identity_header_mode", "enforce_identity", "allowed_user_domains", "rotated_to",
        ]  # fmt: skip
        read_only_fields = fields


class KeyCreatedSerializer(KeySerializer):
    """The answer to a key creation or rotation: the only time `key` (the secret) is shown."""

    key = serializers.SerializerMethodField()

    class Meta(KeySerializer.Meta):
        fields = [*KeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, obj: Key) -> str:
        return self.context["secret"]


class KeyInputSerializer(InputSerializer):
    """Issue an agent key; fields left null inherit the app's identity settings."""

    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPES), required=False, help_text="default: all three"
    )
    rate_limit = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, allow_null=True, required=False, help_text="requests per minute"
    )
    expires_in_days = serializers.IntegerField(
        min_value=MIN_LIFETIME_DAYS, max_value=MAX_LIFETIME_DAYS, required=False, help_text="default 90"
    )
    app_id = TenantObjectField(
        selector=app_get, id_arg="app_id", noun="app", source="app", allow_null=True, required=False,
        help_text="null = tenant-scoped",
    )  # fmt: skip
    allowed_models = string_list(
        allow_null=True, required=False,
        help_text="globs; null = inherit; narrows the agent's list and its policies, never widens; [] refused",
    )  # fmt: skip
    identity_header_mode = serializers.BooleanField(allow_null=True, required=False)
    enforce_identity = serializers.BooleanField(allow_null=True, required=False)
    allowed_user_domains = string_list(
        allow_null=True, required=False, help_text="null = inherit the app's; [] = any domain"
    )


class KeyRotateInputSerializer(InputSerializer):
    grace_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_GRACE_SECONDS,
        required=False,
        help_text="how long the old secret keeps working; default 0",
    )


class OrgKeySerializer(ObjectSerializer):
    """A management credential. `prefix` is all that is ever shown of its secret after creation."""

    object_type = "org_key"
    status = CredentialStatusField()

    class Meta:
        model = OrgKey
        fields = [*OBJECT_FIELDS, "updated_at", *CREDENTIAL_FIELDS, "role"]
        read_only_fields = fields


class OrgKeyCreatedSerializer(OrgKeySerializer):
    """The answer to an org key creation: the only time `key` (the secret) is shown."""

    key = serializers.SerializerMethodField()

    class Meta(OrgKeySerializer.Meta):
        fields = [*OrgKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, obj: OrgKey) -> str:
        return self.context["secret"]


class OrgKeyInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    role = serializers.ChoiceField(choices=OrgRole.values, required=False, help_text="default admin")
    expires_in_days = serializers.IntegerField(
        min_value=MIN_LIFETIME_DAYS, max_value=MAX_LIFETIME_DAYS, allow_null=True, required=False,
        help_text="default: never expires",
    )  # fmt: skip
