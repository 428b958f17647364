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
