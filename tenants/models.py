"""Tenants (the hard isolation boundary) and console memberships."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from core.ids import IdFactory


class FailMode(models.TextChoices):
    OPEN = "open", "open (admit)"
    CLOSED = "closed", "closed (refuse)"


# SPEC 6: a tenant's own admins keep their forensic records at least RETENTION_MINIMUM_DAYS;
# only a platform superuser (or an operator's command) may set less, and never less than a
# day: retention deletes sealed records, so 0 would erase the log at the next hourly run.
RETENTION_MINIMUM_DAYS = 30
RETENTION_FLOOR_DAYS = 1


class Tenant(models.Model):
    """A customer organisation. Nothing of one tenant is ever visible to another."""

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("tn"), editable=False)
    name = models.CharField(max_length=200)
    # What the gateway does with a limit it cannot count because Redis is down.
    rate_limit_fail_mode = models.CharField(max_length=8, choices=FailMode.choices, default=FailMode.OPEN)
    budget_fail_mode = models.CharField(max_length=8, choices=FailMode.choices, default=FailMode.CLOSED)
    log_retention_days = models.PositiveIntegerField(
        default=365,
        validators=[MinValueValidator(RETENTION_FLOOR_DAYS)],
        help_text=f"Days a forensic record is kept; at least {RETENTION_MINIMUM_DAYS} unless a platform superuser "
        "sets less.",
    )
    # Bumped in the same transaction as any change of the tenant's configuration; gateways
    # poll it as the fallback to the Redis generations (proxy.config_cache.ConfigVersionPoller).
    config_version = models.PositiveBigIntegerField(default=0, editable=False)
    # When ``config_version`` last moved (the database's clock): the poller reads the tenants
    # changed in the last minute by this index, so that a change Redis never heard of arrives
    # within a poll however many tenants a process caches.
    config_changed_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipRole(models.TextChoices):
    ADMIN = "admin", "admin"
    VIEWER = "viewer", "viewer"


class Membership(models.Model):
    """Binds a console user to the one tenant they work in (superusers need none)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=MembershipRole.choices, default=MembershipRole.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant}"
