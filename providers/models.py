"""Upstream connections, model aliases and the price table used for cost estimates."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from core.crypto import decrypt_secret
from core.ids import IdFactory
from core.models import TenantOwned
from providers.kinds import PROVIDER_KINDS
from providers.rules import alias_targets_clean, provider_fields_clean

# What reads show for the value of an extra header (SPEC 5.5); on write it keeps the stored one.
EXTRA_HEADER_MASK = "***"


# The console's choices; the kinds themselves are plain data in providers.kinds.
ProviderKind = models.TextChoices(
    "ProviderKind", {kind.upper(): (kind, label) for kind, label in PROVIDER_KINDS.items()}
)


class Provider(TenantOwned):
    """An upstream LLM connection; its API key and the values of its extra headers are stored
    encrypted and never shown again (SPEC 5.5)."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("prv"), editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ProviderKind.choices)
    base_url = models.CharField(max_length=2000, blank=True, default="")
    api_key_encrypted = models.TextField(blank=True, default="", editable=False)
    timeout_seconds = models.FloatField(default=60.0)
    # Header name -> Fernet token of its value. Names are shown (and validated); values are
    # credentials as often as not (an organisation id, a gateway token), so write-only.
    extra_headers_encrypted = models.JSONField(default=dict, blank=True, editable=False)
    priority = models.IntegerField(default=0)
    api_version = models.CharField(max_length=40, blank=True, default="")
    send_agent_identity = models.BooleanField(
        default=True, help_text="send X-Agent-Identity, the signed identity of the calling agent (SPEC 3.10)"
    )
    # Last: the field name shadows the django.db.models module inside the class body.
    models = models.JSONField(default=list, blank=True, help_text="model name patterns this provider serves")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def api_key_set(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def extra_headers_masked(self) -> dict[str, str]:
        """The extra headers as every read shows them: names, each value ``"***"``."""
        return {name: EXTRA_HEADER_MASK for name in self.extra_headers_encrypted or {}}

    def extra_headers_decrypted(self) -> dict[str, str]:
        """The clear values, for the request sent upstream only (proxy.config_snapshot)."""
        return {name: decrypt_secret(token) for name, token in (self.extra_headers_encrypted or {}).items()}

    def clean(self) -> None:
        cleaned = provider_fields_clean(
            kind=self.kind, base_url=self.base_url, models=self.models, timeout_seconds=self.timeout_seconds
        )
        for field, value in cleaned.items():
            setattr(self, field, value)


class Alias(TenantOwned):
    """A stable model name resolving to ordered provider targets, tried in turn on failure."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("als"), editable=False)
    alias = models.CharField(max_length=200)
    targets = models.JSONField(default=list)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "aliases"
        constraints = [models.UniqueConstraint(fields=["tenant", "alias"], name="alias_unique_per_tenant")]

    def __str__(self) -> str:
        return self.alias

    def clean(self) -> None:
        if not self.alias or len(self.alias) > 200:
            raise ValidationError({"alias": "required"})
        targets = alias_targets_clean(self.targets)
        named = {target["provider_id"] for target in targets}
        providers = Provider.objects.for_tenant(self.tenant_id) if self.tenant_id else Provider.objects.none()
        if named - set(providers.filter(id__in=named).values_list("id", flat=True)):
            raise ValidationError({"targets": "a target names no provider of this tenant"})
        self.targets = targets


class ModelPrice(TenantOwned):
    """A tenant's own price of the models matching a pattern, per million tokens.

    It wins over the published list price (``providers.pricing``) for every model it matches.
    Without a cached-input price, cached prompt tokens are priced at the input price.
    """

    model_pattern = models.CharField(max_length=200, help_text="fnmatch pattern, e.g. gpt-4o*")
    input_per_million_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    cached_input_per_million_usd = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="cached prompt tokens; empty: the input price"
    )
    output_per_million_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))

    class Meta:
        ordering = ["model_pattern"]
        constraints = [models.UniqueConstraint(fields=["tenant", "model_pattern"], name="price_unique_per_tenant")]

    def __str__(self) -> str:
        return self.model_pattern
