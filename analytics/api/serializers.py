"""Usage, end users, conversations and reports on the wire (SPEC 5.8).

Usage, end users and conversations are computed, not stored objects: their serializers
shape dictionaries made by the selectors, and document them for the OpenAPI schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.models import FindingStatus, Framework, Report
from analytics.selectors import UsageSummary
from core.api.serializers import OBJECT_FIELDS, InputSerializer, ObjectSerializer, ObjectTypeField

DATETIME = serializers.DateTimeField()


def timestamp(moment: datetime | None) -> str | None:
    """A timestamp as every other object of the API shows it (ISO 8601, UTC, ``Z``)."""
    return DATETIME.to_representation(moment) if moment is not None else None


class UsageTotalsSerializer(serializers.Serializer):
    """SPEC 5.8's `T`. `requests` counts failed requests too; `errors` (4xx and 5xx) is a subset."""

    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField(
        allow_null=True,
        help_text="estimated cost in USD of the priced requests (the tenant's prices, else list prices); null when "
        "requests without a price leave nothing of it known",
    )
    latency_p50_ms = serializers.IntegerField(allow_null=True, help_text="whole milliseconds; null without requests")
    latency_p95_ms = serializers.IntegerField(allow_null=True, help_text="whole milliseconds; null without requests")
    unpriced_requests = serializers.IntegerField(
        help_text="requests whose model had no price: their cost is in no sum (cost_usd is then a lower bound)"
    )


class UsageGroupSerializer(UsageTotalsSerializer):
    key = serializers.DictField(
        help_text='`{"day": "YYYY-MM-DD"}`, `{"hour": "YYYY-MM-DDTHH:00:00Z"}`, or `{"model"|"user"|"app"|"agent": '
        "value}` (null: requests without one)"
    )


class UsageSerializer(serializers.Serializer):
    """Usage of the window `[since, until)`, exact at the moment of the answer."""

    object = serializers.CharField(help_text='always "usage"')
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    totals = UsageTotalsSerializer()
    groups = UsageGroupSerializer(many=True)


def usage_body(summary: UsageSummary) -> dict[str, Any]:
    return {
        "object": "usage",
        "since": timestamp(summary.since),
        "until": timestamp(summary.until),
        "totals": summary.totals.body(),
        "groups": [{"key": {group_by: key}, **totals.body()} for group_by, key, totals in summary.groups],
    }


class AggregateSerializer(serializers.Serializer):
    """Totals of a group of records, as the selectors' aggregate dictionaries hold them."""

    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.SerializerMethodField()
    cost_usd = serializers.SerializerMethodField()
    unpriced_requests = serializers.IntegerField(help_text="requests whose model had no price (not in cost_usd)")
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()

    def get_total_tokens(self, item: dict[str, Any]) -> int:
        return item["prompt_tokens"] + item["completion_tokens"]

    def get_cost_usd(self, item: dict[str, Any]) -> float | None:
        """The priced requests' sum; null when unpriced requests leave nothing of it known."""
        if item["unpriced_requests"] and not item["cost_usd"]:
            return None
        return float(round(item["cost_usd"] or 0, 8))


class EndUserSerializer(AggregateSerializer):
    """An end user (identity) seen in the records; `id` is the identity itself."""

    object_type = "end_user"
    id = serializers.CharField(source="user")
    object = ObjectTypeField()
    created_at = serializers.DateTimeField(source="first_seen", help_text="when the identity was first seen")
    user = serializers.CharField()
    conversations = serializers.IntegerField(help_text="distinct conversation ids")


class ConversationSerializer(AggregateSerializer):
    """One conversation of an end user: the records sharing its `conversation_id`."""

    object_type = "conversation"
    id = serializers.CharField(source="conversation_id")
    object = ObjectTypeField()
    created_at = serializers.DateTimeField(source="first_seen")
    conversation_id = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField(), help_text="model names the client sent")


class FindingSerializer(serializers.Serializer):
    control = serializers.CharField(help_text="e.g. `EU AI Act Art. 12`, `SOC 2 CC6.1`, `NIST AI RMF MEASURE 2.7`")
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=FindingStatus.values)
    evidence = serializers.DictField(help_text="the figures and ids the status rests on")


class ReportSerializer(ObjectSerializer):
    """A compliance report; `findings` is empty until `status` is `ready`."""

    object_type = "report"
    findings = FindingSerializer(many=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [*OBJECT_FIELDS, "framework", "status", "since", "until", "findings", "error", "completed_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="why a failed report failed"))
    def get_error(self, report: Report) -> str | None:
        return report.error or None


class ReportInputSerializer(InputSerializer):
    """Request a report; the window defaults to the last 30 days."""

    framework = serializers.ChoiceField(choices=Framework.values)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
