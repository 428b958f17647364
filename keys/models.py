"""Gateway credentials: agent keys for the proxy, org keys for the management API.

Only a keyed digest (HMAC-SHA-256 under ``KEY_HASH_SECRET``) and a display prefix are
stored; the secret exists in one response and nowhere else.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.ids import IdFactory
from core.models import TenantOwned
from core.validation import domains_clean, globs_clean
from keys.rules import SCOPES, scopes_clean


def default_scopes() -> list[str]:
    return list(SCOPES)


class CredentialState(models.TextChoices):
    ACTIVE = "active", "active"
    EXPIRED = "expired", "expired"
    REVOKED = "revoked", "revoked"


class CredentialBase(TenantOwned):
    """What agent keys and org keys share: digest, prefix, expiry, revocation, last use."""

    name = models.CharField(max_length=200, blank=True, default="")
    prefix = models.CharField(max_length=16, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # A revocation time in the future is a rotation grace period still running.
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return CredentialState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return CredentialState.EXPIRED
        return CredentialState.ACTIVE


class Key(CredentialBase):
    """An agent key (``aid_sk_…``): tenant-scoped when ``app`` is null, else bound to one app."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("key"), editable=False)
    agent = models.ForeignKey("identity.Agent", on_delete=models.CASCADE, related_name="keys")
    app = models.ForeignKey("apps.App", null=True, blank=True, on_delete=models.CASCADE, related_name="keys")
    scopes = models.JSONField(default=default_scopes)
    rate_limit = models.PositiveIntegerField(null=True, blank=True, help_text="requests per minute")
    identity_header_mode = models.BooleanField(null=True, blank=True)
    enforce_identity = models.BooleanField(null=True, blank=True)
    allowed_user_domains = models.JSONField(null=True, blank=True, default=None)
    # Narrows the agent's list and its policies, never widens them (SPEC 2); null = inherit.
    allowed_models = models.JSONField(null=True, blank=True, default=None)
    rotated_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_from", editable=False
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "agent", "created_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.id})"

    def clean(self) -> None:
        self.scopes = scopes_clean(self.scopes)
        # [] on a key means "any domain", overriding the app's list (SPEC 1).
        self.allowed_user_domains = domains_clean(self.allowed_user_domains, allow_empty=True)
        self.allowed_models = globs_clean(self.allowed_models)


class OrgRole(models.TextChoices):
    ADMIN = "admin", "admin"
    VIEWER = "viewer", "viewer"


class OrgKey(CredentialBase):
    """A management credential (``aid_org_…``) with a role; never accepted on the proxy."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("okey"), editable=False)
    role = models.CharField(max_length=8, choices=OrgRole.choices, default=OrgRole.ADMIN)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "org key"
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.id}, {self.role})"
