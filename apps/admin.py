"""Console pages of apps (with their guardrails) and policies."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.jwt_form import (
    JWT_FORM_FIELDS,
    REQUIRED_CLAIMS_HELP,
    SCOPE_MAP_HELP,
    JwtSettingsFields,
    jwt_form_initial,
    jwt_settings_from_form,
)
from apps.models import App, GuardrailPolicy, JwtRevocation, Policy
from apps.services import (
    APP_FIELDS,
    GUARDRAIL_FIELDS,
    POLICY_FIELDS,
    app_create,
    app_delete,
    app_update,
    guardrails_put,
    jwt_revocation_create,
    jwt_revocation_delete,
    policy_create,
    policy_delete,
    policy_update,
)
from core.actors import Actor
from core.admin_forms import ConsoleModelForm, TenantScopedForm, form_values
from identity.models import Agent
from tenants.access import console_access, console_actor
from tenants.admin_base import TenantScopedAdmin, TenantScopedInline

RECORD_FIELDS = ["id", "created_at", "updated_at"]
RATE_LIMIT_FIELDS = ["requests_per_minute", "tokens_per_minute", "max_concurrent_requests", "user_requests_per_minute"]
BUDGET_FIELDS = ["daily_token_budget", "monthly_token_budget", "user_daily_token_budget", "max_tokens_per_request"]


class AppForm(TenantScopedForm, JwtSettingsFields):
    """The app's settings; its JWT verifier as one field per setting (``apps.jwt_form``)."""

    class Meta:
        model = App
        fields = [f for f in APP_FIELDS if f != "jwt"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant_id = self.console_tenant_id or self.instance.tenant_id
        agents = Agent.objects.filter(deleted_at=None)
        agents = agents.filter(tenant_id=tenant_id) if tenant_id else agents.select_related("tenant")
        self.fields["jwt_agent"].choices = [("", "---------"), *((a.id, f"{a.name} ({a.id})") for a in agents)]
        self.fields["jwt_required_claims"].help_text = mark_safe(REQUIRED_CLAIMS_HELP)  # noqa: S308 (constant)
        self.fields["jwt_scope_map"].help_text = mark_safe(SCOPE_MAP_HELP)  # noqa: S308 (constant)
        for name, value in jwt_form_initial(self.instance.jwt).items():
            self.initial.setdefault(name, value)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            settings = jwt_settings_from_form(cleaned)
        except ValidationError as error:
            self._update_errors(error)
            return cleaned
        # Validated with the app by the model's clean (jwt_settings_clean), like every write.
        cleaned["jwt"] = self.instance.jwt = settings
        return cleaned

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


class JwtRevocationForm(ConsoleModelForm):
    class Meta:
        model = JwtRevocation
        fields = ["jti", "sub", "expires_at"]
        help_texts = {
            "jti": "Revoke one token.",
            "sub": "Or: revoke the subject's tokens issued (iat) up to now.",
            "expires_at": "When the entry may be forgotten: empty for 24 hours; at most 30 days.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_at"].required = False


class JwtRevocationInline(TenantScopedInline):
    """The app's live JWT revocations: added and removed here, never edited (SPEC 3.3)."""

    model = JwtRevocation
    form = JwtRevocationForm
    fields = ["jti", "sub", "expires_at", "created_at"]
    readonly_fields = ["created_at"]
    extra = 1
    verbose_name = "JWT revocation"
    verbose_name_plural = "JWT revocations"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(expires_at__gt=timezone.now())

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        access = console_access(request)
        return access is not None and access.can_write


@admin.register(App)
class AppAdmin(TenantScopedAdmin):
    form = AppForm
    inlines = [GuardrailInline, JwtRevocationInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "is_default"]}),
        ("Where the credential is found", {"fields": ["key_name", "key_location"]}),
        (
            "End-user identity",
            {"fields": ["identity_header_mode", "enforce_identity", "allowed_user_domains", "scope_prefix"]},
        ),
        (
            "Identity: JWT verifier",
            {
                "fields": JWT_FORM_FIELDS,
                "description": "Fill the field of the mode chosen; the others are ignored (SPEC 3.3).",
            },
        ),
        ("Forensic record", {"fields": ["capture_bodies", "body_capture_max_bytes"]}),
        ("Record", {"fields": [*RECORD_FIELDS, "token_check_link"]}),
    ]
    readonly_fields = [*RECORD_FIELDS, "token_check_link", "jwt_display"]
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

    @admin.display(description="JWT verifier")
    def jwt_display(self, obj: App) -> str:
        if obj.jwt is None:
            return "header only (no JWT accepted)"
        return format_html("<pre>{}</pre>", json.dumps(obj.jwt, indent=2))

    def get_fieldsets(self, request: HttpRequest, obj: App | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # A viewer's page shows fields read-only, and the form's own fields have no value on
        # the model: the settings object is shown instead.
        return [
            (name, {**options, "fields": ["jwt_display"]}) if "jwt_mode" in options["fields"] else (name, options)
            for name, options in fieldsets
        ]

    @admin.display(description="check a token")
    def token_check_link(self, obj: App) -> str:
        if not obj.pk:
            return "-"
        url = reverse("console:app-token-check", args=[obj.pk]) + f"?tenant={obj.tenant_id}"
        return format_html('<a class="aidgate-token-check" href="{}">Check a token against this app</a>', url)

    @staticmethod
    def _values(form: forms.ModelForm) -> dict[str, Any]:
        fields = form_values(form, APP_FIELDS)
        if "jwt_mode" in form.fields and "jwt" in form.cleaned_data:
            fields["jwt"] = form.cleaned_data["jwt"]
        return fields

    def service_create(self, request: HttpRequest, obj: App, form: forms.ModelForm, actor: Actor) -> App:
        fields = self._values(form)
        return app_create(
            tenant_id=obj.tenant_id, actor=actor, name=fields.pop("name"), slug=fields.pop("slug"), **fields
        )

    def service_update(self, request: HttpRequest, current: App, form: forms.ModelForm, actor: Actor) -> App:
        return app_update(app=current, actor=actor, data=self._values(form))

    def service_delete(self, request: HttpRequest, obj: App, actor: Actor) -> None:
        app_delete(app=obj, actor=actor)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """The guardrails form, through guardrails_put (which replaces the whole object), and
        revocations added or removed through their services."""
        app = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is JwtRevocation:
            self._save_revocations(request, app, formset)
            return
        for inline_form in formset.forms:
            if not inline_form.has_changed():
                continue  # app_create made the defaults; an untouched form changes nothing
            guardrails = guardrails_put(
                app=app, actor=console_actor(request), data=form_values(inline_form, GUARDRAIL_FIELDS)
            )
            formset.changed_objects.append((guardrails, inline_form.changed_data))

    def _save_revocations(self, request: HttpRequest, app: App, formset: Any) -> None:
        actor = console_actor(request)
        for inline_form in formset.forms:
            revocation = inline_form.instance
            # Ids have defaults: a new row's instance has a pk too; the stored rows come first.
            if inline_form in formset.initial_forms:
                if inline_form in formset.deleted_forms:
                    jwt_revocation_delete(revocation=revocation, actor=actor)
                    formset.deleted_objects.append(revocation)
                continue  # a revocation is added or removed, never edited
            if not inline_form.has_changed() or inline_form in formset.deleted_forms:
                continue
            data = inline_form.cleaned_data
            created = jwt_revocation_create(
                app=app, actor=actor, jti=data.get("jti") or None, sub=data.get("sub") or None,
                expires_at=data.get("expires_at"),
            )  # fmt: skip
            formset.new_objects.append(created)

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
