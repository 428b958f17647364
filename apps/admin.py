"""Console pages of apps (with their guardrails) and policies."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.http import HttpRequest

from apps.models import App, GuardrailPolicy, Policy
from apps.services import (
    APP_FIELDS,
    GUARDRAIL_FIELDS,
    POLICY_FIELDS,
    app_create,
    app_delete,
    app_update,
    guardrails_put,
    policy_create,
    policy_delete,
    policy_update,
)
from core.actors import Actor
from core.admin_forms import TenantScopedForm, form_values
from tenants.access import console_actor
from tenants.admin_base import TenantScopedAdmin, TenantScopedInline

RECORD_FIELDS = ["id", "created_at", "updated_at"]
RATE_LIMIT_FIELDS = ["requests_per_minute", "tokens_per_minute", "max_concurrent_requests", "user_requests_per_minute"]
BUDGET_FIELDS = ["daily_token_budget", "monthly_token_budget", "user_daily_token_budget", "max_tokens_per_request"]


class AppForm(TenantScopedForm):
    class Meta:
        model = App
        fields = APP_FIELDS

    def validate_constraints(self) -> None:
        # The only constraint is "one default app per tenant"; app_create and app_update
        # keep it by demoting the previous default, so the form must not refuse instead.
        return None


class GuardrailInline(TenantScopedInline):
    """An app's content rules, edited with the app and written by guardrails_put."""

    model = GuardrailPolicy
    fields = ["pii", "blocked_patterns", "max_prompt_chars"]
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = "guardrails"
    verbose_name_plural = "guardrails"


@admin.register(App)
class AppAdmin(TenantScopedAdmin):
    form = AppForm
    inlines = [GuardrailInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "is_default"]}),
        ("Where the credential is found", {"fields": ["key_name", "key_location"]}),
        (
            "End-user identity",
            {"fields": ["identity_header_mode", "enforce_identity", "allowed_user_domains", "scope_prefix"]},
        ),
        ("JWT verifier", {"fields": ["jwt"], "description": "null: no JWT accepted for this app (SPEC 3.3)."}),
        ("Forensic record", {"fields": ["capture_bodies", "body_capture_max_bytes"]}),
        ("Record", {"fields": RECORD_FIELDS}),
    ]
    readonly_fields = RECORD_FIELDS
    prepopulated_fields = {"slug": ["name"]}
    list_display = [
        "name", "slug", "is_default", "key_location", "enforce_identity", "jwt_enabled", "pii_mode", "created_at",
        "tenant",
    ]  # fmt: skip
    list_filter = ["is_default", "enforce_identity", "key_location", ("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "id", "tenant__name"]
    list_select_related = ["tenant", "guardrails"]

    @admin.display(boolean=True, description="JWT")
    def jwt_enabled(self, obj: App) -> bool:
        return obj.jwt is not None

    @admin.display(description="PII")
    def pii_mode(self, obj: App) -> str:
        guardrails = getattr(obj, "guardrails", None)
        return guardrails.pii if guardrails is not None else "-"

    def service_create(self, request: HttpRequest, obj: App, form: forms.ModelForm, actor: Actor) -> App:
        fields = form_values(form, APP_FIELDS)
        return app_create(
            tenant_id=obj.tenant_id, actor=actor, name=fields.pop("name"), slug=fields.pop("slug"), **fields
        )

    def service_update(self, request: HttpRequest, current: App, form: forms.ModelForm, actor: Actor) -> App:
        return app_update(app=current, actor=actor, data=form_values(form, APP_FIELDS))

    def service_delete(self, request: HttpRequest, obj: App, actor: Actor) -> None:
        app_delete(app=obj, actor=actor)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """The guardrails form, through guardrails_put (which replaces the whole object)."""
        app = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if not inline_form.has_changed():
                continue  # app_create made the defaults; an untouched form changes nothing
            guardrails = guardrails_put(
                app=app, actor=console_actor(request), data=form_values(inline_form, GUARDRAIL_FIELDS)
            )
            formset.changed_objects.append((guardrails, inline_form.changed_data))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list, dict, set, list]:
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Keys are never deleted one by one (they are revoked), but app_delete removes an
        # app's app-scoped keys with it, as the management API does. The key model is found
        # through the relation keys.Key declares: keys build on apps, not the other way round.
        perms_needed.discard(App._meta.get_field("keys").related_model._meta.verbose_name)
        return to_delete, model_count, perms_needed, protected


class PolicyForm(TenantScopedForm):
    class Meta:
        model = Policy
        fields = [*POLICY_FIELDS, "apps", "agents"]


@admin.register(Policy)
class PolicyAdmin(TenantScopedAdmin):
    form = PolicyForm
    fieldsets = [
        (None, {"fields": ["name", "enabled", "timezone"]}),
        ("Applies to", {"fields": ["tenant_wide", "apps", "agents"]}),
        ("Access", {"fields": ["allowed_models", "allowed_endpoints", "allowed_hours"]}),
        ("Rate limits", {"fields": RATE_LIMIT_FIELDS}),
        ("Budgets", {"fields": BUDGET_FIELDS}),
        ("Record", {"fields": RECORD_FIELDS}),
    ]
    readonly_fields = RECORD_FIELDS
    filter_horizontal = ["apps", "agents"]
    list_display = [
        "name", "enabled", "tenant_wide", "requests_per_minute", "tokens_per_minute", "daily_token_budget",
        "monthly_token_budget", "created_at", "tenant",
    ]  # fmt: skip
    list_filter = ["enabled", "tenant_wide", ("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["name", "id", "tenant__name"]
    list_select_related = ["tenant"]

    def _targets(self, form: forms.ModelForm) -> dict[str, list[str]]:
        targets = {}
        if "apps" in form.cleaned_data:
            targets["app_ids"] = [a.pk for a in form.cleaned_data["apps"]]
        if "agents" in form.cleaned_data:
            targets["agent_ids"] = [a.pk for a in form.cleaned_data["agents"]]
        return targets

    def service_create(self, request: HttpRequest, obj: Policy, form: forms.ModelForm, actor: Actor) -> Policy:
        fields = form_values(form, POLICY_FIELDS)
        return policy_create(
            tenant_id=obj.tenant_id, actor=actor, name=fields.pop("name"), **self._targets(form), **fields
        )

    def service_update(self, request: HttpRequest, current: Policy, form: forms.ModelForm, actor: Actor) -> Policy:
        return policy_update(policy=current, actor=actor, data=form_values(form, POLICY_FIELDS) | self._targets(form))

    def service_delete(self, request: HttpRequest, obj: Policy, actor: Actor) -> None:
        policy_delete(policy=obj, actor=actor)
