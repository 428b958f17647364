"""Setting a tenant up, changing its settings and choosing who administers it.

Creating a tenant seeds its price table and issues its first admin org key; a console
membership may not take away a tenant's last admin credential, org keys and console admins
counted together. Both span several apps, so they live above them, here.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import SYSTEM, Actor
from core.errors import invalid_request
from core.model_changes import model_update
from forensics.services import event_record, update_recorded
from keys.models import OrgKey
from keys.services import org_key_create, tenant_admin_credentials_count
from tenants.models import Membership, MembershipRole, Tenant
from tenants.rules import TENANT_FIELDS, retention_days_check


@transaction.atomic
def tenant_create(*, name: str, actor: Actor = SYSTEM, admin_email: str | None = None) -> tuple[Tenant, OrgKey, str]:
    """A tenant with its first admin org key (secret returned once) and,
    given an email, a console admin user (who sets a password through the usual reset)."""
    tenant = Tenant(name=name)
    tenant.full_clean()
    tenant.save()
    event_record(tenant, actor=actor, action="tenant.created", changes={"name": {"before": None, "after": name}})
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
        membership,
        actor=actor,
        action="member.added",
        changes={"email": {"before": None, "after": email}, "role": {"before": None, "after": role}},
    )
    return membership


def _removes_last_admin(membership: Membership) -> bool:
    """Whether losing this admin membership would leave the tenant without any admin."""
    if membership.role != MembershipRole.ADMIN or not membership.user.is_active:
        return False
    return tenant_admin_credentials_count(tenant_id=membership.tenant_id) <= 1


@transaction.atomic
def membership_update(*, membership: Membership, actor: Actor, role: str) -> Membership:
    if role not in MembershipRole.values:
        raise ValidationError({"role": "must be admin or viewer"})
    if role != MembershipRole.ADMIN and _removes_last_admin(membership):
        raise invalid_request("the last admin credential of a tenant cannot be removed", "last_admin")
    update_recorded(membership, {"role": role}, fields=["role"], actor=actor, action="member.updated")
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership, actor: Actor) -> None:
    if _removes_last_admin(membership):
        raise invalid_request("the last admin credential of a tenant cannot be removed", "last_admin")
    event_record(
        membership, actor=actor, action="member.removed", changes={"role": {"before": membership.role, "after": None}}
    )
    membership.delete()


@transaction.atomic
def tenant_update(*, tenant: Tenant, actor: Actor, data: dict) -> Tenant:
    """Change a tenant's settings; a retention change is checked against who asks."""
    changes = model_update(tenant, data, fields=TENANT_FIELDS)
    if "log_retention_days" in changes:
        # Checked on the value as validated and stored (a string "0" is 0 by now); raising
        # here rolls the whole update back with the transaction.
        retention_days_check(days=tenant.log_retention_days, actor=actor)
    if changes:
        event_record(tenant, actor=actor, action="tenant.updated", changes=changes)
    return tenant
