"""Who may shorten a tenant's forensic retention, and which settings a tenant's admins may change."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from core.actors import SYSTEM, Actor
from tenants.models import RETENTION_MINIMUM_DAYS

TENANT_FIELDS = ["name", "rate_limit_fail_mode", "budget_fail_mode", "log_retention_days"]


def actor_is_platform(actor: Actor) -> bool:
    """Whether the actor acts for the platform rather than for one tenant: an operator's
    command or task (``system``) or an active platform superuser; never an org key."""
    if actor.type == SYSTEM.type:
        return True
    if actor.type != "user" or not actor.id:
        return False
    return get_user_model().objects.filter(pk=actor.id, is_superuser=True, is_active=True).exists()


def retention_days_check(*, days: int, actor: Actor) -> None:
    """SPEC 6: a tenant's own admins may not keep records less than RETENTION_MINIMUM_DAYS.

    The absolute floor (a day) is the model field's validator, for everyone; this is the rule
    that depends on who asks, so every writer (admin, commands, any future API) goes through
    :func:`tenant_update`, which calls it.
    """
    if days < RETENTION_MINIMUM_DAYS and not actor_is_platform(actor):
        raise ValidationError(
            {
                "log_retention_days": f"must be at least {RETENTION_MINIMUM_DAYS} days; "
                "only a platform superuser may set less"
            }
        )
