"""Console pages of agent keys and org keys.

A secret exists in one place only: the page right after the key is issued (creation or
rotation), as a one-time message. Lists and forms show the display prefix; the digest is
never in any form or list. Keys are revoked, never deleted: the record is evidence.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation, RelatedOnlyFieldListFilter
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import format_html

from core.actors import Actor
from core.admin_forms import InheritBooleanSelect, TenantScopedForm, form_values
from core.admin_refusals import ServiceRefused, refusal_report, service_refusals
from core.secret_messages import secret_announce
from keys.models import CredentialBase, CredentialState, Key, OrgKey
from keys.rules import MAX_LIFETIME_DAYS, MIN_LIFETIME_DAYS, SCOPES
from keys.services import (
    KEY_EDITABLE_FIELDS,
    KEY_IDENTITY_FIELDS,
    key_create,
    key_revoke,
    key_rotate,
    key_update,
    org_key_create,
    org_key_revoke,
)
from tenants.access import console_actor
from tenants.admin_base import TenantScopedAdmin

BOTH_LOCATIONS = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]
EXPIRY_WARNING = timedelta(days=14)
ROTATION_GRACE_SECONDS = 24 * 3600
# What may change on an issued key; the rest (agent, app, scopes, expiry) is fixed at issue.
IDENTITY_OVERRIDE_HELP = "Inherit: use the app's setting."
MODELS_HELP = (
    'null: inherit (the agent\'s list and policies apply); ["gpt-4o*"]: only these, and only where '
    "the agent and its policies allow them too."
)
DOMAINS_HELP = 'null: inherit the app\'s list; []: any domain; ["example.com"]: only these.'


class CredentialStateFilter(admin.SimpleListFilter):
    """Active / expired / revoked, as ``CredentialBase.state()`` computes it, in SQL."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(CredentialState.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        revoked, expired = Q(revoked_at__lte=now), Q(expires_at__lte=now)
        match self.value():
            case CredentialState.ACTIVE:
                return queryset.exclude(revoked).exclude(expired)
            case CredentialState.EXPIRED:
                return queryset.filter(expired).exclude(revoked)
            case CredentialState.REVOKED:
                return queryset.filter(revoked)
        return queryset


class CredentialDisplay:
    """List columns shared by agent keys and org keys."""

    @admin.display(description="state")
    def state_display(self, obj: CredentialBase) -> str:
        state = obj.state()
        label = state
        if state == CredentialState.ACTIVE and obj.revoked_at is not None:
            label = f"active until {localize(timezone.localtime(obj.revoked_at))} (rotated)"
        return format_html('<span class="aidgate-state-{}">{}</span>', state, label)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: CredentialBase) -> str:
        if obj.expires_at is None:
            return "never"
        text = localize(timezone.localtime(obj.expires_at))
        if obj.state() == CredentialState.ACTIVE and obj.expires_at - timezone.now() <= EXPIRY_WARNING:
            return format_html('<span class="aidgate-expiring" title="expires within 14 days">{}</span>', text)
        return text


def _lifetime_field(*, required: bool, initial: int | None) -> forms.IntegerField:
    return forms.IntegerField(
        min_value=MIN_LIFETIME_DAYS, max_value=MAX_LIFETIME_DAYS, required=required, initial=initial,
        label="Expires in (days)", help_text=f"{MIN_LIFETIME_DAYS} to {MAX_LIFETIME_DAYS}.",
    )  # fmt: skip


class KeyAddForm(TenantScopedForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in SCOPES], initial=list(SCOPES), widget=forms.CheckboxSelectMultiple
    )
    expires_in_days = _lifetime_field(required=True, initial=settings.KEY_DEFAULT_LIFETIME_DAYS)

    class Meta:
        model = Key
        fields = ["agent", "app", "name", "scopes", "rate_limit", "allowed_models", *KEY_IDENTITY_FIELDS]
        widgets = {"identity_header_mode": InheritBooleanSelect, "enforce_identity": InheritBooleanSelect}
        help_texts = {
            "app": "Empty: tenant-scoped, usable with any app of the tenant.",
            "identity_header_mode": IDENTITY_OVERRIDE_HELP,
            "enforce_identity": IDENTITY_OVERRIDE_HELP,
            "allowed_user_domains": DOMAINS_HELP,
            "allowed_models": MODELS_HELP,
        }

    def clean(self) -> dict[str, Any]:
        # A key belongs to its agent's tenant; superusers pick the agent, not the tenant.
        agent = self.cleaned_data.get("agent")
        if agent is not None and not self.instance.tenant_id:
            self.instance.tenant_id = agent.tenant_id
        return super().clean()


class KeyChangeForm(TenantScopedForm):
    class Meta:
        model = Key
        fields = KEY_EDITABLE_FIELDS
        widgets = KeyAddForm.Meta.widgets
        help_texts = KeyAddForm.Meta.help_texts


@admin.register(Key)
class KeyAdmin(CredentialDisplay, TenantScopedAdmin):
    form = KeyChangeForm
    add_form = KeyAddForm
    tenant_in_add_form = False
    add_fieldsets = [
        (None, {"fields": ["agent", "app", "name"]}),
        ("Permissions", {"fields": ["scopes", "rate_limit", "allowed_models", "expires_in_days"]}),
        ("Identity overrides", {"fields": KEY_IDENTITY_FIELDS}),
    ]
    fieldsets = [
        (None, {"fields": ["name", "prefix", "id", "agent", "app", "state_display"]}),
        ("Permissions", {"fields": ["scopes", "rate_limit", "allowed_models", "expires_at"]}),
        ("Identity overrides", {"fields": KEY_IDENTITY_FIELDS}),
        ("Lifecycle", {"fields": ["created_at", "last_used_at", "revoked_at", "rotated_to", "updated_at"]}),
    ]
    list_display = [
        "prefix", "name", "agent", "app_scope", "state_display", "expires", "last_used_at", "created_at", "tenant",
    ]  # fmt: skip
    list_filter = [
        CredentialStateFilter, ("app", RelatedOnlyFieldListFilter), ("agent", RelatedOnlyFieldListFilter),
        ("tenant", RelatedOnlyFieldListFilter),
    ]  # fmt: skip
    search_fields = ["id", "prefix", "name", "agent__name", "agent__id", "tenant__name"]
    list_select_related = ["agent", "app", "tenant"]
    actions = ["revoke_keys", "rotate_keys", "rotate_keys_with_grace"]

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        if obj is None:
            return super().get_readonly_fields(request, obj)
        fixed = [
            "prefix", "id", "agent", "app", "state_display", "scopes", "expires_at", "created_at", "last_used_at",
            "revoked_at", "rotated_to", "updated_at",
        ]  # fmt: skip
        return [*fixed, *super().get_readonly_fields(request, obj)]

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    @admin.display(description="app", ordering="app__name")
    def app_scope(self, obj: Key) -> str:
        return str(obj.app) if obj.app_id else "any (tenant-scoped)"

    def service_create(self, request: HttpRequest, obj: Key, form: forms.ModelForm, actor: Actor) -> Key:
        data = form.cleaned_data
        key, secret = key_create(
            agent=data["agent"], actor=actor, name=data.get("name", ""), scopes=list(data["scopes"]),
            rate_limit=data.get("rate_limit"), expires_in_days=data["expires_in_days"], app=data.get("app"),
            identity_header_mode=data.get("identity_header_mode"), enforce_identity=data.get("enforce_identity"),
            allowed_user_domains=data.get("allowed_user_domains"), allowed_models=data.get("allowed_models"),
        )  # fmt: skip
        secret_announce(request, label=f"New key {key.prefix}… for agent {key.agent}", secret=secret)
        return key

    def service_update(self, request: HttpRequest, current: Key, form: forms.ModelForm, actor: Actor) -> Key:
        return key_update(key=current, actor=actor, data=form_values(form, KEY_EDITABLE_FIELDS))

    @admin.action(
        description="Revoke this key", description_plural="Revoke selected keys", permissions=["write"],
        location=BOTH_LOCATIONS,
    )  # fmt: skip
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[Key]) -> None:
        actor = console_actor(request)
        done = 0
        for key in queryset:
            try:
                with service_refusals():
                    key_revoke(key=key, actor=actor)
            except ServiceRefused as refusal:
                refusal_report(request, key, refusal)
                continue
            done += 1
        self.message_user(request, f"Revoked {done} key(s); they stop working within a second.", messages.SUCCESS)

    def _rotate(self, request: HttpRequest, queryset: QuerySet[Key], grace_seconds: int) -> None:
        actor = console_actor(request)
        for key in queryset.select_related("agent", "app"):
            try:
                with service_refusals():
                    new_key, secret = key_rotate(key=key, actor=actor, grace_seconds=grace_seconds)
            except ServiceRefused as refusal:
                refusal_report(request, key, refusal)
                continue
            secret_announce(
                request, label=f"Key {key.prefix}… rotated; its successor {new_key.prefix}… for agent {key.agent}",
                secret=secret,
            )  # fmt: skip

    @admin.action(
        description="Rotate this key (old secret stops now)",
        description_plural="Rotate selected keys (old secrets stop now)",
        permissions=["write"], location=BOTH_LOCATIONS,
    )  # fmt: skip
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Key]) -> None:
        self._rotate(request, queryset, grace_seconds=0)

    @admin.action(
        description="Rotate this key (old secret works 24 more hours)",
        description_plural="Rotate selected keys (old secrets work 24 more hours)",
        permissions=["write"], location=BOTH_LOCATIONS,
    )  # fmt: skip
    def rotate_keys_with_grace(self, request: HttpRequest, queryset: QuerySet[Key]) -> None:
        self._rotate(request, queryset, grace_seconds=ROTATION_GRACE_SECONDS)


class OrgKeyAddForm(TenantScopedForm):
    expires_in_days = _lifetime_field(required=False, initial=None)

    class Meta:
        model = OrgKey
        fields = ["name", "role"]
        help_texts = {"role": "viewer: read-only on the management API."}


@admin.register(OrgKey)
class OrgKeyAdmin(CredentialDisplay, TenantScopedAdmin):
    """Management API credentials; issued and revoked here, never edited."""

    add_form = OrgKeyAddForm
    add_fieldsets = [(None, {"fields": ["name", "role", "expires_in_days"]})]
    fieldsets = [
        (None, {"fields": ["name", "role", "prefix", "id", "state_display"]}),
        ("Lifecycle", {"fields": ["created_at", "expires_at", "last_used_at", "revoked_at"]}),
    ]
    list_display = ["prefix", "name", "role", "state_display", "expires", "last_used_at", "created_at", "tenant"]
    list_filter = ["role", CredentialStateFilter, ("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["id", "prefix", "name", "tenant__name"]
    list_select_related = ["tenant"]
    actions = ["revoke_org_keys"]

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        if obj is None:
            return super().get_readonly_fields(request, obj)
        return ["state_display", *super().get_readonly_fields(request, obj)]

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def service_create(self, request: HttpRequest, obj: OrgKey, form: forms.ModelForm, actor: Actor) -> OrgKey:
        data = form.cleaned_data
        org_key, secret = org_key_create(
            tenant_id=obj.tenant_id, actor=actor, name=data.get("name", ""), role=data["role"],
            expires_in_days=data.get("expires_in_days"),
        )  # fmt: skip
        secret_announce(request, label=f"New org key {org_key.prefix}… ({org_key.role})", secret=secret)
        return org_key

    @admin.action(
        description="Revoke this org key", description_plural="Revoke selected org keys", permissions=["write"],
        location=BOTH_LOCATIONS,
    )  # fmt: skip
    def revoke_org_keys(self, request: HttpRequest, queryset: QuerySet[OrgKey]) -> None:
        actor = console_actor(request)
        done = 0
        for org_key in queryset:
            if org_key.state() == CredentialState.REVOKED:
                continue
            try:
                with service_refusals():
                    org_key_revoke(org_key=org_key, actor=actor)
            except ServiceRefused as refusal:
                refusal_report(request, org_key, refusal)
                continue
            done += 1
        self.message_user(request, f"Revoked {done} org key(s).", messages.SUCCESS if done else messages.INFO)
