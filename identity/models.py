"""Agents: AI workloads with an identity of their own."""

from __future__ import annotations

from django.db import models

from core.ids import IdFactory
from core.models import TenantOwned
from core.validation import globs_clean


class AgentStatus(models.TextChoices):
    ACTIVE = "active", "active"
    SUSPENDED = "suspended", "suspended"


class Agent(TenantOwned):
    """An AI workload that holds keys; its allowed models and policies bind every request it makes.

    Deleting an agent is soft (``deleted_at``): its keys are revoked and its records keep
    pointing at an identity whose fingerprint an auditor can still look up.
    """

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("ag"), editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    app = models.ForeignKey("apps.App", null=True, blank=True, on_delete=models.SET_NULL, related_name="agents")
    allowed_models = models.JSONField(null=True, blank=True, default=None)
    status = models.CharField(max_length=10, choices=AgentStatus.choices, default=AgentStatus.ACTIVE)
    metadata = models.JSONField(default=dict, blank=True)
    owner_email = models.EmailField(blank=True, default="", help_text="the human accountable for this agent")
    fingerprint = models.CharField(max_length=64, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.allowed_models = globs_clean(self.allowed_models)


class IdentityKey(models.Model):
    """A P-256 key that signs agent identities (SPEC 3.10); the platform's, not a tenant's.

    The newest key without ``retired_at`` signs; a retired key stays published in
    ``/.well-known/jwks.json`` for a day after it retired, so that tokens it signed still verify.
    The private key is stored encrypted with ``FIELD_ENCRYPTION_KEY``, like a provider's key.
    """

    kid = models.CharField(primary_key=True, max_length=64, editable=False, help_text="RFC 7638 thumbprint")
    private_key_encrypted = models.TextField(editable=False)
    public_jwk = models.JSONField(editable=False)
    created_at = models.DateTimeField(editable=False)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "kid"]

    def __str__(self) -> str:
        return self.kid
