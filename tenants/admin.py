"""Console pages of tenants and console memberships.

Tenant staff see and edit only their own tenant; creating tenants and managing who may
use the console (memberships) is for platform superusers.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db import models, transaction
from django.http import HttpRequest

from core.actors import Actor
from core.admin_tenancy import (
    ConsoleModelForm,
    TenantScopedAdmin,
    TenantScopedForm,
    audited_update,
    form_values,
    secret_announce,
)
from core.errors import invalid_request
from forensics.services import event_record
from keys.services import tenant_admin_credentials_count
from tenants.models import Membership, MembershipRole, Tenant
from tenants.services import membership_create, tenant_create

# What a tenant's admins may change about their tenant (tenants.services has no updater yet).
TENANT_FIELDS = ["name", "rate_limit_fail_mode", "budget_fail_mode", "log_retention_days"]


class TenantAddForm(ConsoleModelForm):
    admin_email = forms.EmailField(
        required=False, help_text="Optional: a console admin of the new tenant (sets a password by reset)."
    )

    class Meta:
        model = Tenant
        fields = ["name"]


class TenantChangeForm(ConsoleModelForm):
    class Meta:
        model = Tenant
        fields = TENANT_FIELDS


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """Staff see exactly one row here, their own tenant."""

    tenant_lookup = "pk"
    form = TenantChangeForm
    add_form = TenantAddForm
    add_fieldsets = [(None, {"fields": ["name", "admin_email"]})]
    fieldsets = [
        (None, {"fields": ["name", "id"]}),
        ("Behaviour when Redis is down", {"fields": ["rate_limit_fail_mode", "budget_fail_mode"]}),
        ("Forensic record", {"fields": ["log_retention_days"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["id", "created_at", "updated_at"]
    list_display = ["name", "id", "rate_limit_fail_mode", "budget_fail_mode", "log_retention_days", "created_at"]
    list_filter = ["rate_limit_fail_mode", "budget_fail_mode"]
    search_fields = ["name", "id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._is_platform(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        # There is no tenant_delete service, and a tenant's forensic record must not vanish
        # with a click; offboarding is an operator task.
        return False

    def service_create(self, request: HttpRequest, obj: Tenant, form: forms.ModelForm, actor: Actor) -> Tenant:
        tenant, org_key, secret = tenant_create(
            name=form.cleaned_data["name"], actor=actor, admin_email=form.cleaned_data.get("admin_email") or None
        )
        secret_announce(request, label=f"First admin org key {org_key.prefix}… of {tenant.name}", secret=secret)
        return tenant

    def service_update(self, request: HttpRequest, current: Tenant, form: forms.ModelForm, actor: Actor) -> Tenant:
        return audited_update(
            instance=current, data=form_values(form, TENANT_FIELDS), fields=TENANT_FIELDS, actor=actor,
            tenant_id=current.pk, action="tenant.updated", object_type="tenant",
        )  # fmt: skip


class MembershipAddForm(TenantScopedForm):
    email = forms.EmailField(help_text="The console user's login; a new user sets a password by reset.")

    class Meta:
        model = Membership
        fields = ["tenant", "role"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        # membership_create moves an existing membership silently; in the console an
        # existing member must be changed on their own page instead.
        if Membership.objects.filter(user__username__iexact=email).exists():
            raise forms.ValidationError("this user is already a member of a tenant")
        return email


class MembershipChangeForm(TenantScopedForm):
    class Meta:
        model = Membership
        fields = ["role"]


def _last_console_admin(membership: Membership) -> bool:
    """Whether removing this admin membership would leave the tenant without any admin."""
    if membership.role != MembershipRole.ADMIN or not membership.user.is_active:
        return False
    return tenant_admin_credentials_count(tenant_id=membership.tenant_id) <= 1


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """Who may use the console for which tenant: platform superusers only."""

    platform_only = True
    form = MembershipChangeForm
    add_form = MembershipAddForm
    add_fieldsets = [(None, {"fields": ["tenant", "email", "role"]})]
    fieldsets = [(None, {"fields": ["user", "role", "created_at"]})]
    readonly_fields = ["user", "created_at"]
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", ("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "tenant__name"]
    list_select_related = ["user", "tenant"]

    def service_create(self, request: HttpRequest, obj: Membership, form: forms.ModelForm, actor: Actor) -> Membership:
        return membership_create(
            tenant=form.cleaned_data["tenant"], email=form.cleaned_data["email"], actor=actor,
            role=form.cleaned_data["role"],
        )  # fmt: skip

    def service_update(
        self, request: HttpRequest, current: Membership, form: forms.ModelForm, actor: Actor
    ) -> Membership:
        if form.cleaned_data["role"] != MembershipRole.ADMIN and _last_console_admin(current):
            raise invalid_request("the last admin credential of a tenant cannot be removed", "last_admin")
        return audited_update(
            instance=current, data=form_values(form, ["role"]), fields=["role"], actor=actor,
            tenant_id=current.tenant_id, action="member.updated", object_type="user", object_id=str(current.user_id),
        )  # fmt: skip

    @transaction.atomic
    def service_delete(self, request: HttpRequest, obj: Membership, actor: Actor) -> None:
        if _last_console_admin(obj):
            raise invalid_request("the last admin credential of a tenant cannot be removed", "last_admin")
        event_record(
            tenant_id=obj.tenant_id, actor=actor, action="member.removed", object_type="user",
            object_id=str(obj.user_id), changes={"role": {"before": obj.role, "after": None}},
        )  # fmt: skip
        obj.delete()
