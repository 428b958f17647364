"""Providers and aliases on the wire (SPEC 5.5). A provider's API key is write-only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import OBJECT_FIELDS, InputSerializer, ObjectSerializer, string_list
from providers.models import Alias, ModelPrice, Provider, ProviderKind


class ProviderSerializer(ObjectSerializer):
    """An upstream LLM connection. Its API key and extra header values are stored encrypted and
    never returned."""

    object_type = "provider"
    api_key_set = serializers.BooleanField()
    models = string_list(help_text="model name patterns this provider serves (explicit routes)")
    extra_headers = serializers.SerializerMethodField()

    class Meta:
        model = Provider
        fields = [
            *OBJECT_FIELDS, "updated_at", "name", "kind", "base_url", "api_key_set", "models", "timeout_seconds",
            "extra_headers", "priority", "api_version", "send_agent_identity",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(
        serializers.DictField(child=serializers.CharField(), help_text='header names; every value reads "***"')
    )
    def get_extra_headers(self, provider: Provider) -> dict[str, str]:
        return provider.extra_headers_masked


class ProviderInputSerializer(InputSerializer):
    """Create (POST) or change (PATCH, every field optional) a provider."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=ProviderKind.values)
    base_url = serializers.CharField(
        max_length=2000, allow_blank=True, required=False, help_text="empty = the kind's public default"
    )
    api_key = serializers.CharField(
        write_only=True,
        allow_blank=True,
        required=False,
        trim_whitespace=False,
        max_length=4000,
        style={"input_type": "password"},
        help_text="write-only; stored encrypted; an empty string removes it",
    )
    models = string_list(required=False)
    timeout_seconds = serializers.FloatField(min_value=0.1, max_value=600, required=False)
    extra_headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text='sent upstream with every request; values are write-only (stored encrypted, read back as "***"). '
        'The object replaces the stored one; a value of "***" keeps that header\'s stored value.',
    )
    priority = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1, required=False)
    api_version = serializers.CharField(max_length=40, allow_blank=True, required=False, help_text="Azure only")
    send_agent_identity = serializers.BooleanField(
        required=False, help_text="send X-Agent-Identity, the calling agent's signed identity (default true)"
    )


class AliasTargetSerializer(InputSerializer):
    provider_id = serializers.CharField(max_length=64)
    model = serializers.CharField(max_length=200)


class AliasSerializer(ObjectSerializer):
    """A stable model name; its targets are tried in order on connection errors, timeouts, 429 and 5xx."""

    object_type = "alias"
    targets = AliasTargetSerializer(many=True)

    class Meta:
        model = Alias
        fields = [*OBJECT_FIELDS, "updated_at", "alias", "targets"]
        read_only_fields = fields


class AliasInputSerializer(InputSerializer):
    """Create (POST) or change (PATCH, every field optional) an alias."""

    alias = serializers.CharField(max_length=200)
    targets = AliasTargetSerializer(many=True, help_text="1 to 10 targets, tried in order")

    def validate_targets(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        return [dict(target) for target in value]


class PriceSerializer(ObjectSerializer):
    """The tenant's own price per million tokens of the models a pattern matches; it wins over
    the published list price (docs/providers.md → Prices)."""

    object_type = "price"
    id = serializers.CharField(read_only=True)
    input_per_million_usd = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=True)
    cached_input_per_million_usd = serializers.DecimalField(
        max_digits=12, decimal_places=6, coerce_to_string=True, allow_null=True,
        help_text="cached prompt tokens; null: priced as input",
    )  # fmt: skip
    output_per_million_usd = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=True)

    class Meta:
        model = ModelPrice
        fields = [
            *OBJECT_FIELDS, "updated_at", "model_pattern", "input_per_million_usd", "cached_input_per_million_usd",
            "output_per_million_usd",
        ]  # fmt: skip
        read_only_fields = fields


class PriceInputSerializer(InputSerializer):
    """Create (POST) or change (PATCH, every field optional) a price."""

    model_pattern = serializers.CharField(max_length=200, help_text="fnmatch pattern; the longest match prices a model")
    input_per_million_usd = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0)
    cached_input_per_million_usd = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True,
        help_text="cached prompt tokens (OpenAI cached_tokens, Anthropic cache reads); null: the input price",
    )  # fmt: skip
    output_per_million_usd = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0)
