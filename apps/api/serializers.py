"""Apps, guardrails and policies on the wire (SPEC 5.1, 5.4, 5.6)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.guardrail_rules import MAX_NAME_LENGTH, MAX_PATTERN_LENGTH, MAX_PATTERNS
from apps.jwt_settings import ASYMMETRIC_ALGORITHMS
from apps.models import App, GuardrailPolicy, JwtRevocation, KeyLocation, PiiMode, Policy
from apps.policy_rules import ENDPOINTS, WEEKDAYS
from core.api.serializers import OBJECT_FIELDS, InputSerializer, ObjectSerializer, string_list
from core.validation import GATEWAY_SCOPES, SLUG_RE

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class JwtSettingsSerializer(serializers.Serializer):
    """JWT verifier of an app (SPEC 3.3): exactly one key source, and the agent JWT requests act as."""

    jwks_url = serializers.URLField(required=False, help_text="keys fetched and cached")
    jwks_json = serializers.JSONField(required=False, help_text="a static JWKS object (or a string holding one)")
    public_key_pem = serializers.CharField(required=False, help_text="one RSA, EC or Ed25519 public key")
    agent_id = serializers.CharField(help_text="the agent that JWT requests act as")
    algorithms = serializers.ListField(
        child=serializers.ChoiceField(choices=ASYMMETRIC_ALGORITHMS), required=False, help_text='default ["RS256"]'
    )
    issuer = serializers.CharField(required=False)
    audience = serializers.JSONField(required=False, help_text="a string or a list of strings")
    required_claims = serializers.JSONField(
        required=False,
        help_text=(
            "a list of claim names that must be present, or an object {claim: value | [values]}: the claim must "
            "equal one of the values (an array claim: contain one)"
        ),
    )
    scope_map = serializers.DictField(
        child=serializers.ChoiceField(choices=GATEWAY_SCOPES), required=False,
        help_text="token scope → gateway scope, applied before the scope check",
    )  # fmt: skip
    leeway_seconds = serializers.IntegerField(min_value=0, max_value=3600, required=False, help_text="default 30")
    user_claims = string_list(required=False)
    scope_claims = string_list(required=False)


@extend_schema_field(JwtSettingsSerializer(allow_null=True))
class JwtField(serializers.JSONField):
    """Any JSON here; ``apps.jwt_settings.jwt_settings_clean`` validates it on write."""


class AllowedHoursSerializer(serializers.Serializer):
    """When requests are allowed: start inclusive, end exclusive, in `timezone`."""

    timezone = serializers.CharField(required=False, help_text="IANA name, default UTC")
    days = serializers.ListField(child=serializers.ChoiceField(choices=WEEKDAYS), required=False)
    start = serializers.RegexField(r"^\d\d:\d\d$", help_text="HH:MM")
    end = serializers.RegexField(r"^\d\d:\d\d$", help_text="HH:MM")


@extend_schema_field(AllowedHoursSerializer(allow_null=True))
class AllowedHoursField(serializers.JSONField):
    """Any JSON here; ``apps.policy_rules.allowed_hours_clean`` validates it on write."""


# --- apps ---


class AppSerializer(ObjectSerializer):
    """A policy context: where credentials are found, who the end user is, which rules apply."""

    object_type = "app"
    allowed_user_domains = string_list(allow_null=True, help_text="null = any domain")
    jwt = JwtField(allow_null=True)

    class Meta:
        model = App
        fields = [
            *OBJECT_FIELDS, "updated_at", "name", "slug", "description", "is_default", "key_name", "key_location",
            "identity_header_mode", "enforce_identity", "allowed_user_domains", "scope_prefix", "jwt",
            "capture_bodies", "body_capture_max_bytes",
        ]  # fmt: skip
        read_only_fields = fields


class AppInputSerializer(InputSerializer):
    """Create (POST) or change (PATCH, every field optional) an app."""

    name = serializers.CharField(max_length=200)
    slug = serializers.RegexField(
        SLUG_RE,
        max_length=64,
        help_text="unique across the platform: it forms the path /apps/{slug}/v1/…",
        error_messages={"invalid": "must be lower-case letters, digits and inner hyphens"},
    )
    description = serializers.CharField(allow_blank=True, required=False)
    is_default = serializers.BooleanField(required=False)
    key_name = serializers.CharField(max_length=100, required=False)
    key_location = serializers.ChoiceField(choices=KeyLocation.values, required=False)
    identity_header_mode = serializers.BooleanField(required=False)
    enforce_identity = serializers.BooleanField(required=False)
    allowed_user_domains = string_list(allow_null=True, required=False, help_text="null = any; [] is refused")
    scope_prefix = serializers.CharField(max_length=64, allow_blank=True, required=False)
    jwt = JwtField(allow_null=True, required=False)
    capture_bodies = serializers.BooleanField(required=False)
    body_capture_max_bytes = serializers.IntegerField(min_value=0, max_value=INT32_MAX, required=False)


# --- guardrails ---


class BlockedPatternSerializer(InputSerializer):
    # Lengths and counts are checked by apps.guardrail_rules (one rule for the API and the console).
    name = serializers.CharField(help_text=f"unique within the app, at most {MAX_NAME_LENGTH} characters")
    pattern = serializers.CharField(
        trim_whitespace=False,
        help_text=f"a regular expression (Python's `regex` syntax), at most {MAX_PATTERN_LENGTH} characters",
    )


class GuardrailsSerializer(ObjectSerializer):
    """The content rules of one app. Its `id` is the app's id: an app has exactly one."""

    object_type = "guardrails"
    id = serializers.CharField(source="app_id")
    app_id = serializers.CharField()
    created_at = serializers.DateTimeField(source="app.created_at")
    blocked_patterns = BlockedPatternSerializer(many=True)

    class Meta:
        model = GuardrailPolicy
        fields = [*OBJECT_FIELDS, "updated_at", "app_id", "blocked_patterns", "pii", "max_prompt_chars"]
        read_only_fields = fields


class GuardrailsInputSerializer(InputSerializer):
    """The whole object: a field left out takes its default ([], "off", null)."""

    blocked_patterns = BlockedPatternSerializer(many=True, required=False, help_text=f"at most {MAX_PATTERNS} patterns")
    pii = serializers.ChoiceField(choices=PiiMode.values, required=False)
    max_prompt_chars = serializers.IntegerField(min_value=0, max_value=INT32_MAX, allow_null=True, required=False)

    def validate_blocked_patterns(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(entry) for entry in value]


# --- policies ---


def _limit(*, big: bool = False, help_text: str = "") -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0, max_value=INT64_MAX if big else INT32_MAX, allow_null=True, required=False, help_text=help_text
    )


class PolicySerializer(ObjectSerializer):
    """Limits and access rules; where several apply, the strictest value of each field wins."""

    object_type = "policy"
    app_ids = serializers.SerializerMethodField()
    agent_ids = serializers.SerializerMethodField()
    allowed_models = string_list(allow_null=True)
    allowed_endpoints = serializers.ListField(child=serializers.ChoiceField(choices=ENDPOINTS), allow_null=True)
    allowed_hours = AllowedHoursField(allow_null=True)

    class Meta:
        model = Policy
        fields = [
            *OBJECT_FIELDS, "updated_at", "name", "enabled", "timezone", "tenant_wide", "app_ids", "agent_ids",
            "allowed_models", "allowed_endpoints", "requests_per_minute", "tokens_per_minute",
            "max_concurrent_requests", "user_requests_per_minute", "daily_token_budget", "monthly_token_budget",
            "user_daily_token_budget", "max_tokens_per_request", "allowed_hours",
        ]  # fmt: skip
        read_only_fields = fields

    def get_app_ids(self, policy: Policy) -> list[str]:
        return [app.pk for app in policy.apps.all()]

    def get_agent_ids(self, policy: Policy) -> list[str]:
        return [agent.pk for agent in policy.agents.all()]


class PolicyInputSerializer(InputSerializer):
    """Create (POST) or change (PATCH, every field optional) a policy."""

    name = serializers.CharField(max_length=200)
    enabled = serializers.BooleanField(required=False)
    timezone = serializers.CharField(max_length=64, required=False, help_text="IANA name, default UTC")
    tenant_wide = serializers.BooleanField(required=False)
    app_ids = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    agent_ids = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    allowed_models = string_list(allow_null=True, required=False, help_text="fnmatch globs; null = any; [] refused")
    allowed_endpoints = serializers.ListField(
        child=serializers.ChoiceField(choices=ENDPOINTS), allow_null=True, required=False
    )
    requests_per_minute = _limit(help_text="per key")
    tokens_per_minute = _limit(help_text="prompt + completion tokens per key")
    max_concurrent_requests = _limit(help_text="in-flight requests per key")
    user_requests_per_minute = _limit(help_text="per end-user identity")
    daily_token_budget = _limit(big=True, help_text="per agent, calendar day in `timezone`")
    monthly_token_budget = _limit(big=True, help_text="per agent, calendar month in `timezone`")
    user_daily_token_budget = _limit(big=True, help_text="per end-user identity")
    max_tokens_per_request = _limit()
    allowed_hours = AllowedHoursField(allow_null=True, required=False)


# --- JWT revocations ---


class JwtRevocationSerializer(ObjectSerializer):
    """A revoked token (`jti`) or subject (`sub`: its tokens issued at or before `created_at`)."""

    object_type = "jwt_revocation"
    app_id = serializers.CharField()
    jti = serializers.CharField(allow_null=True)
    sub = serializers.CharField(allow_null=True)

    class Meta:
        model = JwtRevocation
        fields = [*OBJECT_FIELDS, "app_id", "jti", "sub", "expires_at"]
        read_only_fields = fields

    def to_representation(self, instance: JwtRevocation) -> dict[str, Any]:
        data = super().to_representation(instance)
        # Stored as "" for the field not named; on the wire that is null.
        return {**data, "jti": instance.jti or None, "sub": instance.sub or None}


class ClaimStringField(serializers.CharField):
    """A string as the token carries it: 5 is not "5" (a JSON number never names a string claim)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class JwtRevocationInputSerializer(InputSerializer):
    """Exactly one of `jti` and `sub`."""

    jti = ClaimStringField(max_length=255, required=False, help_text="revoke one token")
    sub = ClaimStringField(
        max_length=255, required=False, help_text="revoke the subject's tokens issued (iat) at or before now"
    )
    expires_at = serializers.DateTimeField(
        required=False, help_text="when the entry may be forgotten; default 24 hours, at most 30 days ahead"
    )
