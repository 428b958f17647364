"""Console pages of tenants and console memberships.

Tenant staff see and edit only their own tenant; creating tenants and managing who may
use the console (memberships) is for platform superusers.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db import models
from django.http import HttpRequest

from core.actors import Actor
from core.admin_forms import ConsoleModelForm, TenantScopedForm, form_values
from core.secret_messages import secret_announce
from provisioning.services import membership_create, membership_delete, membership_update, tenant_create, tenant_update
from tenants.admin_base import TenantScopedAdmin
from tenants.models import Membership, Tenant
from tenants.rules import TENANT_FIELDS


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
        return tenant_update(tenant=current, actor=actor, data=form_values(form, TENANT_FIELDS))


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
        return membership_update(membership=current, actor=actor, role=form.cleaned_data["role"])

    def service_delete(self, request: HttpRequest, obj: Membership, actor: Actor) -> None:
        membership_delete(membership=obj, actor=actor)
