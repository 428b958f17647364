"""Writes of tenants and console memberships."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import SYSTEM, Actor
from core.errors import invalid_request
from core.model_changes import model_update
from forensics.services import event_record
from keys.models import OrgKey
from keys.services import org_key_create
from proxy.services import price_table_seed
from tenants.models import RETENTION_MINIMUM_DAYS, Membership, MembershipRole, Tenant


@transaction.atomic
def tenant_create(*, name: str, actor: Actor = SYSTEM, admin_email: str | None = None) -> tuple[Tenant, OrgKey, str]:
    """A tenant with its price table, its first admin org key (secret returned once) and,
    given an email, a console admin user (who sets a password through the usual reset)."""
    tenant = Tenant(name=name)
    tenant.full_clean()
    tenant.save()
    price_table_seed(tenant_id=tenant.id)
    event_record(
        tenant_id=tenant.id, actor=actor, action="tenant.created", object_type="tenant", object_id=tenant.id,
        changes={"name": {"before": None, "after": name}},
    )  # fmt: skip
    org_key, secret = org_key_create(tenant_id=tenant.id, actor=actor, name="first admin key")
    if admin_email:
        membership_create(tenant=tenant, email=admin_email, actor=actor)
    return tenant, org_key, secret


def membership_create(*, tenant: Tenant, email: str, actor: Actor, role: str = MembershipRole.ADMIN) -> Membership:
    """A console user of this tenant; staff so that Django admin lets them in."""
    if role not in MembershipRole.values:
        raise ValidationError({"role": "must be admin or viewer"})
    user_model = get_user_model()
    # A new user has no password until someone sets one (changepassword or the reset flow).
    user, _ = user_model.objects.get_or_create(username=email, defaults={"email": email, "is_staff": True})
    current = Membership.objects.filter(user=user).exclude(tenant=tenant).first()
    if current is not None:
        # A console user belongs to one tenant: silently moving them would hand this tenant
        # someone else's admin and could leave the other tenant without one.
        raise ValidationError({"email": "this user is a console user of another tenant"})
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    membership, _ = Membership.objects.update_or_create(user=user, defaults={"tenant": tenant, "role": role})
    event_record(
        tenant_id=tenant.id, actor=actor, action="member.added", object_type="user", object_id=str(user.pk),
        changes={"email": {"before": None, "after": email}, "role": {"before": None, "after": role}},
    )  # fmt: skip
    return membership


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


@transaction.atomic
def tenant_update(*, tenant: Tenant, actor: Actor, data: dict) -> Tenant:
    """Change a tenant's settings; a retention change is checked against who asks."""
    changes = model_update(tenant, data, fields=TENANT_FIELDS)
    if "log_retention_days" in changes:
        # Checked on the value as validated and stored (a string "0" is 0 by now); raising
        # here rolls the whole update back with the transaction.
        retention_days_check(days=tenant.log_retention_days, actor=actor)
    if changes:
        event_record(
            tenant_id=tenant.id, actor=actor, action="tenant.updated", object_type="tenant", object_id=tenant.id,
            changes=changes,
        )  # fmt: skip
    return tenant


def _removes_last_admin(membership: Membership) -> bool:
    """Whether losing this admin membership would leave the tenant without any admin."""
    from keys.services import tenant_admin_credentials_count

    if membership.role != MembershipRole.ADMIN or not membership.user.is_active:
        return False
    return tenant_admin_credentials_count(tenant_id=membership.tenant_id) <= 1


@transaction.atomic
def membership_update(*, membership: Membership, actor: Actor, role: str) -> Membership:
    if role not in MembershipRole.values:
        raise ValidationError({"role": "must be admin or viewer"})
    if role != MembershipRole.ADMIN and _removes_last_admin(membership):
        raise invalid_request("the last admin credential of a tenant cannot be removed", "last_admin")
    changes = model_update(membership, {"role": role}, fields=["role"])
    if changes:
        event_record(
            tenant_id=membership.tenant_id, actor=actor, action="member.updated", object_type="user",
            object_id=str(membership.user_id), changes=changes,
        )  # fmt: skip
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership, actor: Actor) -> None:
    if _removes_last_admin(membership):
        raise invalid_request("the last admin credential of a tenant cannot be removed", "last_admin")
    event_record(
        tenant_id=membership.tenant_id, actor=actor, action="member.removed", object_type="user",
        object_id=str(membership.user_id), changes={"role": {"before": membership.role, "after": None}},
    )  # fmt: skip
    membership.delete()
