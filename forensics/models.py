"""The forensic record of every proxied request, and the management audit trail.

Records hold plain ids rather than foreign keys: they must outlive the objects they name,
and a record is evidence, so nothing cascades into it.
"""

from __future__ import annotations

from django.db import models

from core.ids import IdFactory

# What a record's ``endpoint`` can be (SPEC 6): the one list of the endpoints the proxy serves.
# The proxy's routing table is checked against it, and the log filters, the usage breakdown
# and the console read it, so a new dialect is named here once and shows up everywhere.
RECORD_ENDPOINTS: tuple[str, ...] = ("chat", "embeddings", "models", "messages", "responses")


class Credential(models.TextChoices):
    KEY = "key", "key"
    JWT = "jwt", "jwt"
    SESSION = "session", "session"


class RequestLog(models.Model):
    """One request that reached the proxy (SPEC section 6). Append-only once sealed."""

    id = models.CharField(primary_key=True, max_length=32)
    tenant_id = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    client_request_id = models.CharField(max_length=128, null=True, blank=True)
    app_id = models.CharField(max_length=32, null=True, blank=True)
    agent_id = models.CharField(max_length=32, null=True, blank=True)
    key_id = models.CharField(max_length=32, null=True, blank=True)
    credential = models.CharField(max_length=8, choices=Credential.choices, null=True, blank=True)
    user = models.CharField(max_length=320, null=True, blank=True)
    identity_source = models.CharField(max_length=8, null=True, blank=True)
    conversation_id = models.CharField(max_length=128, null=True, blank=True)
    endpoint = models.CharField(max_length=32)
    model_requested = models.CharField(max_length=200, null=True, blank=True)
    model_resolved = models.CharField(max_length=200, null=True, blank=True)
    provider_id = models.CharField(max_length=32, null=True, blank=True)
    stream = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, null=True, blank=True)
    error_reason = models.CharField(max_length=64, null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Null when the model had no price (unpriced): an unknown cost is never recorded as 0.
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0, null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    upstream_latency_ms = models.FloatField(null=True, blank=True)
    client_ip = models.CharField(max_length=64, null=True, blank=True)
    user_agent = models.CharField(max_length=512, null=True, blank=True)
    policy_ids = models.JSONField(default=list)
    fail_open = models.JSONField(default=list, blank=True)
    request_body = models.TextField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    # Tamper evidence: filled by the sealer, then the row is frozen.
    seq = models.PositiveBigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    chain_hash = models.CharField(max_length=64, null=True, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant_id", "-created_at", "-id"], name="log_tenant_time"),
            models.Index(fields=["tenant_id", "agent_id", "-created_at"], name="log_agent_time"),
            models.Index(fields=["tenant_id", "user", "-created_at"], name="log_user_time"),
            models.Index(fields=["tenant_id", "conversation_id", "created_at"], name="log_conversation"),
            models.Index(fields=["tenant_id", "client_request_id"], name="log_client_request"),
        ]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "seq"], name="log_seq_unique")]

    def __str__(self) -> str:
        return self.id


class ActorType(models.TextChoices):
    ORG_KEY = "org_key", "org key"
    USER = "user", "console user"
    SYSTEM = "system", "system"


class Event(models.Model):
    """One management action (key.created, policy.updated, …) with field before/after values."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("evt"), editable=False)
    tenant_id = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    actor_type = models.CharField(max_length=8, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, null=True, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant_id", "-created_at", "-id"], name="event_tenant_time")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_id}"


class AuditChainHead(models.Model):
    """The end of one tenant's hash chain; locked by the sealer so chains never fork."""

    tenant_id = models.CharField(primary_key=True, max_length=32)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.tenant_id}@{self.last_seq}"


class CheckpointKind(models.TextChoices):
    SEAL = "seal", "seal"
    PRUNE = "prune", "prune"


class AuditCheckpoint(models.Model):
    """A signed statement "the chain of this tenant reached ``seq`` with ``chain_hash``".

    A ``prune`` checkpoint also says that records up to ``seq`` were deleted by retention,
    so verification can start after them. Append-only (refused UPDATE/DELETE on PostgreSQL).
    """

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("ckp"), editable=False)
    tenant_id = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=CheckpointKind.choices, default=CheckpointKind.SEAL)
    seq = models.PositiveBigIntegerField()
    chain_hash = models.CharField(max_length=64)
    records = models.PositiveIntegerField(default=0, help_text="records sealed (or pruned) by this checkpoint")
    created_at = models.DateTimeField()
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["tenant_id", "seq", "created_at"]
        indexes = [models.Index(fields=["tenant_id", "seq"], name="checkpoint_tenant_seq")]

    def __str__(self) -> str:
        return f"{self.kind} {self.tenant_id}@{self.seq}"
