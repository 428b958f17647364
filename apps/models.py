"""Apps (policy contexts), their guardrails, and the policies that limit requests."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.guardrail_rules import blocked_patterns_clean
from apps.jwt_settings import jwt_settings_clean
from apps.policy_rules import policy_fields_clean
from core.ids import IdFactory
from core.models import TenantOwned
from core.validation import SLUG_RE, domains_clean


class KeyLocation(models.TextChoices):
    HEADER = "header", "header"
    QUERY = "query", "query parameter"


class App(TenantOwned):
    """A policy context: how credentials are found, who the end user is, which rules apply."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("app"), editable=False)
    name = models.CharField(max_length=200)
    # Unique across the platform because it forms the URL path /apps/{slug}/v1/...
    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True, default="")
    is_default = models.BooleanField(default=False)
    key_name = models.CharField(max_length=100, default="X-API-Key")
    key_location = models.CharField(max_length=8, choices=KeyLocation.choices, default=KeyLocation.HEADER)
    identity_header_mode = models.BooleanField(default=False)
    enforce_identity = models.BooleanField(default=False)
    allowed_user_domains = models.JSONField(null=True, blank=True, default=None)
    scope_prefix = models.CharField(max_length=64, blank=True, default="")
    # JWT verifier settings (SPEC 3.3), validated by apps.jwt_settings.jwt_settings_clean.
    jwt = models.JSONField(null=True, blank=True, default=None)
    capture_bodies = models.BooleanField(default=False)
    body_capture_max_bytes = models.PositiveIntegerField(default=16384)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=Q(is_default=True), name="one_default_app_per_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def clean(self) -> None:
        if not SLUG_RE.match(self.slug or ""):
            raise ValidationError({"slug": "use 1-64 lower-case letters, digits and inner hyphens"})
        self.allowed_user_domains = domains_clean(self.allowed_user_domains)
        if self.jwt is not None:
            self.jwt = jwt_settings_clean(self.jwt, tenant_id=self.tenant_id)
        if self.key_location == KeyLocation.QUERY and self.key_name.lower() == "authorization":
            raise ValidationError({"key_name": "Authorization cannot be a query parameter name"})


class JwtRevocation(TenantOwned):
    """A revoked JWT of one app (SPEC 3.3): one token by ``jti``, or every token of a ``sub``
    issued (``iat``) at or before ``created_at``. Forgotten after ``expires_at``."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("jrv"), editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="jwt_revocations")
    jti = models.CharField(max_length=255, blank=True, default="")
    sub = models.CharField(max_length=255, blank=True, default="")
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "JWT revocation"
        constraints = [
            models.CheckConstraint(
                condition=(Q(jti="") & ~Q(sub="")) | (~Q(jti="") & Q(sub="")),
                name="jwt_revocation_jti_xor_sub",
                violation_error_message="name exactly one of jti (one token) or sub (a subject's tokens)",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "app", "created_at"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"jti {self.jti}" if self.jti else f"sub {self.sub}"


class PiiMode(models.TextChoices):
    OFF = "off", "off"
    REDACT = "redact", "redact"
    BLOCK = "block", "block"


class GuardrailPolicy(models.Model):
    """Content rules of one app (SPEC 3.5), applied before anything leaves the gateway."""

    app = models.OneToOneField(App, on_delete=models.CASCADE, primary_key=True, related_name="guardrails")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    blocked_patterns = models.JSONField(default=list, blank=True)
    pii = models.CharField(max_length=8, choices=PiiMode.choices, default=PiiMode.OFF)
    max_prompt_chars = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "guardrail policy"
        verbose_name_plural = "guardrail policies"

    def __str__(self) -> str:
        return f"guardrails of {self.app_id}"

    def clean(self) -> None:
        self.blocked_patterns = blocked_patterns_clean(self.blocked_patterns)


class Policy(TenantOwned):
    """Limits and access rules (SPEC 3.4); where several apply, the strictest value wins."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("pol"), editable=False)
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    timezone = models.CharField(max_length=64, default="UTC")
    tenant_wide = models.BooleanField(default=False)
    apps = models.ManyToManyField(App, blank=True, related_name="policies")
    agents = models.ManyToManyField("identity.Agent", blank=True, related_name="policies")
    allowed_models = models.JSONField(null=True, blank=True, default=None)
    allowed_endpoints = models.JSONField(null=True, blank=True, default=None)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_concurrent_requests = models.PositiveIntegerField(null=True, blank=True)
    user_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    daily_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    user_daily_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    max_tokens_per_request = models.PositiveIntegerField(null=True, blank=True)
    allowed_hours = models.JSONField(null=True, blank=True, default=None)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "policies"
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for field, value in policy_fields_clean(
            allowed_models=self.allowed_models,
            allowed_endpoints=self.allowed_endpoints,
            allowed_hours=self.allowed_hours,
            timezone=self.timezone,
        ).items():
            setattr(self, field, value)
