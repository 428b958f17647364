"""Console pages of providers, aliases and the tenant's price table.

A provider's API key is write-only: the form never renders it back, a blank field keeps
the stored key, and only ``api_key_set`` is ever shown. Its extra headers show their names
with each value as ``"***"``; sending ``"***"`` back keeps that header's stored value.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db import models
from django.http import HttpRequest

from core.actors import Actor
from core.admin_forms import TenantScopedForm, form_values
from providers.models import EXTRA_HEADER_MASK, Alias, ModelPrice, Provider
from providers.services import (
    ALIAS_FIELDS,
    PRICE_FIELDS,
    PROVIDER_FIELDS,
    alias_create,
    alias_delete,
    alias_update,
    price_create,
    price_delete,
    price_update,
    provider_create,
    provider_delete,
    provider_update,
)
from tenants.admin_base import TenantScopedAdmin

RECORD_FIELDS = ["id", "created_at", "updated_at"]
# Fields of the form only: hidden from whoever may only look (they see extra_headers_stored).
WRITE_ONLY_FIELDS = ["api_key", "clear_api_key", "extra_headers"]


class ProviderForm(TenantScopedForm):
    api_key = forms.CharField(
        required=False,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: stored encrypted, never shown again. Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
    extra_headers = forms.JSONField(
        required=False,
        initial=dict,
        help_text=f'{{"Header-Name": "value"}}, sent upstream with every request. Values are write-only: stored '
        f'encrypted and shown as "{EXTRA_HEADER_MASK}"; leave "{EXTRA_HEADER_MASK}" to keep a stored value, '
        "remove a line to remove the header.",
    )

    class Meta:
        model = Provider
        fields = PROVIDER_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["extra_headers"] = self.instance.extra_headers_masked


@admin.register(Provider)
class ProviderAdmin(TenantScopedAdmin):
    form = ProviderForm
    fieldsets = [
        (None, {"fields": ["name", "kind", "base_url", "api_version", "priority"]}),
        ("Credential", {"fields": ["api_key", "clear_api_key", "api_key_stored"]}),
        (
            "Routing",
            {"fields": ["models", "timeout_seconds", "extra_headers", "extra_headers_stored", "send_agent_identity"]},
        ),
        ("Record", {"fields": RECORD_FIELDS}),
    ]
    readonly_fields = ["api_key_stored", "extra_headers_stored", *RECORD_FIELDS]
    list_display = ["name", "kind", "base_url", "api_key_stored", "priority", "models", "created_at", "tenant"]
    list_filter = ["kind", ("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["name", "id", "base_url", "tenant__name"]
    list_select_related = ["tenant"]

    @admin.display(boolean=True, description="API key set")
    def api_key_stored(self, obj: Provider) -> bool:
        return obj.api_key_set

    @admin.display(description="extra headers")
    def extra_headers_stored(self, obj: Provider) -> str:
        return ", ".join(f"{name}: {EXTRA_HEADER_MASK}" for name in obj.extra_headers_masked) or "none"

    def get_fieldsets(self, request: HttpRequest, obj: models.Model | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and self.has_change_permission(request, obj):
            hidden = ["extra_headers_stored"]  # the form field shows the same names
        elif obj is None:
            hidden = ["clear_api_key", "extra_headers_stored"]  # nothing stored yet
        else:
            hidden = WRITE_ONLY_FIELDS  # nothing to write when only viewing
        return [(name, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]}) for name, opts in fieldsets]

    def service_create(self, request: HttpRequest, obj: Provider, form: forms.ModelForm, actor: Actor) -> Provider:
        fields = form_values(form, PROVIDER_FIELDS)
        return provider_create(
            tenant_id=obj.tenant_id, actor=actor, name=fields.pop("name"), kind=fields.pop("kind"),
            api_key=form.cleaned_data.get("api_key") or None, extra_headers=form.cleaned_data.get("extra_headers"),
            **fields,
        )  # fmt: skip

    def service_update(self, request: HttpRequest, current: Provider, form: forms.ModelForm, actor: Actor) -> Provider:
        data = form_values(form, PROVIDER_FIELDS)
        if "extra_headers" in form.fields:
            data["extra_headers"] = form.cleaned_data.get("extra_headers") or {}
        if form.cleaned_data.get("clear_api_key"):
            data["api_key"] = ""
        elif form.cleaned_data.get("api_key"):
            data["api_key"] = form.cleaned_data["api_key"]
        return provider_update(provider=current, actor=actor, data=data)

    def service_delete(self, request: HttpRequest, obj: Provider, actor: Actor) -> None:
        provider_delete(provider=obj, actor=actor)


class AliasForm(TenantScopedForm):
    class Meta:
        model = Alias
        fields = ALIAS_FIELDS
        help_texts = {"targets": 'Ordered, tried in turn: [{"provider_id": "prv_…", "model": "gpt-4o"}, …]'}


@admin.register(Alias)
class AliasAdmin(TenantScopedAdmin):
    form = AliasForm
    fieldsets = [(None, {"fields": ["alias", "targets"]}), ("Record", {"fields": RECORD_FIELDS})]
    readonly_fields = RECORD_FIELDS
    list_display = ["alias", "targets_display", "created_at", "tenant"]
    list_filter = [("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["alias", "id", "tenant__name"]
    list_select_related = ["tenant"]

    @admin.display(description="targets")
    def targets_display(self, obj: Alias) -> str:
        return " → ".join(f"{t.get('model')} @ {t.get('provider_id')}" for t in obj.targets or [])

    def service_create(self, request: HttpRequest, obj: Alias, form: forms.ModelForm, actor: Actor) -> Alias:
        data = form.cleaned_data
        return alias_create(tenant_id=obj.tenant_id, actor=actor, alias=data["alias"], targets=data["targets"])

    def service_update(self, request: HttpRequest, current: Alias, form: forms.ModelForm, actor: Actor) -> Alias:
        return alias_update(alias=current, actor=actor, data=form_values(form, ALIAS_FIELDS))

    def service_delete(self, request: HttpRequest, obj: Alias, actor: Actor) -> None:
        alias_delete(alias=obj, actor=actor)


class ModelPriceForm(TenantScopedForm):
    class Meta:
        model = ModelPrice
        fields = PRICE_FIELDS


@admin.register(ModelPrice)
class ModelPriceAdmin(TenantScopedAdmin):
    """The tenant's own prices: each wins over the published list price of the models it matches."""

    form = ModelPriceForm
    fieldsets = [(None, {"fields": PRICE_FIELDS}), ("Record", {"fields": ["created_at", "updated_at"]})]
    readonly_fields = ["created_at", "updated_at"]
    list_display = [
        "model_pattern", "input_per_million_usd", "cached_input_per_million_usd", "output_per_million_usd",
        "updated_at", "tenant",
    ]  # fmt: skip
    list_filter = [("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["model_pattern", "tenant__name"]
    list_select_related = ["tenant"]

    def service_create(self, request: HttpRequest, obj: ModelPrice, form: forms.ModelForm, actor: Actor) -> ModelPrice:
        return price_create(tenant_id=obj.tenant_id, actor=actor, **form_values(form, PRICE_FIELDS))

    def service_update(
        self, request: HttpRequest, current: ModelPrice, form: forms.ModelForm, actor: Actor
    ) -> ModelPrice:
        return price_update(price=current, actor=actor, data=form_values(form, PRICE_FIELDS))

    def service_delete(self, request: HttpRequest, obj: ModelPrice, actor: Actor) -> None:
        price_delete(price=obj, actor=actor)
