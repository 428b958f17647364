"""The forensic record, the audit chain and the management audit trail on the wire (SPEC 5.7)."""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import OBJECT_FIELDS, InputSerializer, ObjectSerializer
from forensics.canonical import CHAINED_FIELDS
from forensics.export import CHAIN_FIELDS, EXPORT_FORMAT
from forensics.models import RECORD_ENDPOINTS, ActorType, CheckpointKind, Event, RequestLog


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


# --- Request logs (SPEC 5.7 and 6) ---

LOG_FIELDS = [
    *OBJECT_FIELDS, "client_request_id", "tenant_id", "app_id", "agent_id", "key_id", "credential", "user",
    "identity_source", "conversation_id", "endpoint", "model_requested", "model_resolved", "provider_id", "stream",
    "status_code", "error_code", "error_reason", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms",
    "upstream_latency_ms", "client_ip", "user_agent", "policy_ids", "fail_open", "unpriced", "seq", "chain_hash",
    "sealed",
]  # fmt: skip


class LogSerializer(ObjectSerializer):
    """One proxied request (SPEC 6), without captured bodies. `seq` and `chain_hash` are null
    until the sealer binds the record into the tenant's chain (within seconds: `sealed`)."""

    object_type = "log"
    cost_usd = serializers.DecimalField(
        max_digits=14, decimal_places=8, allow_null=True,
        help_text="estimated cost in USD, an exact decimal string; null when the model has no price (`unpriced`)",
    )  # fmt: skip
    policy_ids = serializers.ListField(child=serializers.CharField(), help_text="the policies applied")
    fail_open = serializers.ListField(
        child=serializers.CharField(), help_text="limits skipped because their store was unreachable (fail-open)"
    )
    unpriced = serializers.SerializerMethodField(
        help_text="true when the request used tokens of a model without a price: its cost_usd is null, not 0"
    )
    sealed = serializers.SerializerMethodField()

    class Meta:
        model = RequestLog
        fields = LOG_FIELDS
        read_only_fields = fields

    def get_unpriced(self, record: RequestLog) -> bool:
        return record.cost_usd is None

    def get_sealed(self, record: RequestLog) -> bool:
        return record.sealed_at is not None


class LogDetailSerializer(LogSerializer):
    """One proxied request with its full chain values and, when the app captures bodies, the
    request and response bodies after guardrail redaction (capped; null when not captured)."""

    class Meta:
        model = RequestLog
        fields = [*LOG_FIELDS, "prev_hash", "sealed_at", "request_body", "response_body"]
        read_only_fields = fields


class LogFilterSerializer(InputSerializer):
    """The filters of the logs list and export, as query parameters; each one matches exactly."""

    since = serializers.DateTimeField(required=False, help_text="ISO 8601; records created at or after it")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601; records created before it")
    user = serializers.CharField(
        required=False, max_length=320, help_text="the end user as recorded (header emails are lower-cased)"
    )
    conversation_id = serializers.CharField(required=False, max_length=128)
    client_request_id = serializers.CharField(required=False, max_length=128, help_text="the client's X-Request-ID")
    app_id = serializers.CharField(required=False, max_length=64)
    model = serializers.CharField(required=False, max_length=200, help_text="the model name the client sent")
    status = serializers.IntegerField(required=False, min_value=100, max_value=599, help_text="the HTTP status sent")
    error_code = serializers.CharField(required=False, max_length=64, help_text="e.g. rate_limited, upstream_error")
    endpoint = serializers.ChoiceField(
        required=False, choices=RECORD_ENDPOINTS, help_text="what the proxy served (SPEC 6): chat, messages, …"
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise serializers.ValidationError({"until": "must be later than since"})
        return data


class LogListQuerySerializer(LogFilterSerializer):
    """Filters plus the page parameters (read by the pagination, accepted here)."""

    limit = serializers.CharField(required=False)
    after = serializers.CharField(required=False)


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV"


class LogExportQuerySerializer(LogFilterSerializer):
    format = serializers.ChoiceField(
        choices=ExportFormat.values, default=ExportFormat.JSONL, help_text="jsonl (verifiable offline) or csv"
    )


# --- The lines of a JSONL export (documentation of the stream; the export writes them) ---


class ExportHeaderSerializer(serializers.Serializer):
    """The first line: what the file is and the key that signed its checkpoints."""

    type = serializers.CharField(help_text='always "export"')
    format = serializers.CharField(help_text=f'"{EXPORT_FORMAT}"')
    tenant_id = serializers.CharField()
    exported_at = serializers.DateTimeField()
    complete = serializers.BooleanField(help_text="false when filters were applied: the chain then has gaps")
    signature_algorithm = serializers.CharField(help_text='"Ed25519"')
    public_key = serializers.CharField(help_text="PEM (SubjectPublicKeyInfo) of the checkpoint-signing key")


class ExportRecordSerializer(serializers.ModelSerializer):
    """One record: its chained fields in canonical form (exactly what was hashed) and its chain
    values (null while not sealed yet)."""

    type = serializers.CharField(help_text='always "record"')
    created_at = serializers.CharField(help_text="YYYY-MM-DDTHH:MM:SS.ffffffZ")
    cost_usd = serializers.CharField(allow_null=True, help_text="decimal string with 8 places; null: unpriced")
    policy_ids = serializers.ListField(child=serializers.CharField())
    fail_open = serializers.ListField(child=serializers.CharField())
    chain_hash = serializers.CharField(allow_null=True, help_text="sha256(prev_hash \\n seq \\n canonical JSON)")

    class Meta:
        model = RequestLog
        fields = ["type", *CHAINED_FIELDS, *CHAIN_FIELDS]
        read_only_fields = fields


@extend_schema_field({"type": "string", "pattern": f"^({'|'.join(CheckpointKind.values)})$"})
class CheckpointKindField(serializers.CharField):
    """``seal`` or ``prune``. A pattern rather than an enum in the schema: drf-spectacular
    names enums after their field, and ``kind`` is already a provider's enum."""


class CheckpointSerializer(serializers.Serializer):
    """A signed statement: the tenant's chain reached `seq` with `chain_hash` (`kind` seal), or
    records up to `seq` were deleted by retention (`kind` prune)."""

    id = serializers.CharField()
    kind = CheckpointKindField()
    seq = serializers.IntegerField()
    chain_hash = serializers.CharField()
    records = serializers.IntegerField(help_text="records sealed (or pruned) by this checkpoint")
    created_at = serializers.CharField(help_text="YYYY-MM-DDTHH:MM:SS.ffffffZ, as signed")
    signature = serializers.CharField(help_text="base64 Ed25519 signature of the canonical JSON of the statement")


class ExportCheckpointSerializer(CheckpointSerializer):
    """A checkpoint line (after the records)."""

    type = serializers.CharField(help_text='always "checkpoint"')


# --- Audit ---


class AuditVerificationSerializer(serializers.Serializer):
    """The result of recomputing the tenant's sealed chain."""

    valid = serializers.BooleanField()
    checked = serializers.IntegerField(help_text="sealed records recomputed")
    first_invalid = serializers.CharField(
        allow_null=True, help_text="id of the first record that fails (null when valid or when no record is to blame)"
    )
    problem = serializers.CharField(allow_null=True, help_text="what is wrong, in words; null when valid")
    checkpoint = CheckpointSerializer(allow_null=True, help_text="the latest signed checkpoint; null before any")
    unsigned = serializers.IntegerField(
        help_text="records past the last signed checkpoint: hash-linked but not yet covered by a signature"
    )


class PublicKeySerializer(serializers.Serializer):
    """The key that verifies checkpoint signatures, for verifying an export offline."""

    object = serializers.CharField(help_text='always "public_key"')
    algorithm = serializers.CharField(help_text='"Ed25519"')
    pem = serializers.CharField(help_text="PEM (SubjectPublicKeyInfo); save it as key.pem for verify_audit")
