"""The console's forms: model and service errors shown on the form, related objects kept
within the form's tenant, and the values a service may change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import QuerySet

from core.admin_refusals import ServiceRefused


def form_values(form: forms.BaseForm, fields: Iterable[str]) -> dict[str, Any]:
    """The cleaned values of those ``fields`` the form showed: what a service may change."""
    return {name: form.cleaned_data[name] for name in fields if name in form.fields and name in form.cleaned_data}


def _fold_unknown_fields(error: ValidationError, fields: Iterable[str]) -> ValidationError:
    """Move errors about fields the form does not show to the form's top.

    Services and model ``clean()`` name model fields (``app_id``, ``scopes``) that a given
    form may not render; Django would raise ValueError on them instead of showing them.
    """
    if not hasattr(error, "error_dict"):
        return error
    shown = set(fields)
    folded: dict[str, list[ValidationError]] = {}
    for field, errors in error.error_dict.items():
        if field == NON_FIELD_ERRORS or field in shown:
            folded.setdefault(field, []).extend(errors)
        else:
            for err in errors:
                folded.setdefault(NON_FIELD_ERRORS, []).extend(ValidationError(f"{field}: {m}") for m in err.messages)
    return ValidationError(folded)


def _model_field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _related_objects(value: Any) -> list[models.Model]:
    if isinstance(value, models.Model):
        return [value]
    if isinstance(value, QuerySet | list | tuple):
        return [v for v in value if isinstance(v, models.Model)]
    return []


class ConsoleModelForm(forms.ModelForm):
    """Base form of the console: shows model and service errors instead of crashing."""

    # Set per request by TenantScopedAdmin.get_form (the form class is built per request).
    service_refusal: ClassVar[ServiceRefused | None] = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in cleaned:
            model_field = _model_field(self._meta.model, name)
            # An emptied textarea of a non-null JSONField means "the default", not NULL.
            if isinstance(model_field, models.JSONField) and not model_field.null and cleaned[name] is None:
                cleaned[name] = model_field.get_default()
        if self.service_refusal is not None:
            self._update_errors(self.service_refusal.as_validation_error())
        return cleaned

    def _update_errors(self, errors: ValidationError) -> None:
        super()._update_errors(_fold_unknown_fields(errors, self.fields))


class TenantScopedForm(ConsoleModelForm):
    """A form of a tenant-owned model: the tenant is fixed, and related objects must share it."""

    console_tenant_id: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set before validation: model clean() methods check references within the tenant.
        if self.console_tenant_id and not getattr(self.instance, "tenant_id", None):
            self.instance.tenant_id = self.console_tenant_id

    def form_tenant_id(self) -> str | None:
        if "tenant" in self.fields:
            tenant = self.cleaned_data.get("tenant")
            return tenant.pk if tenant is not None else None
        return getattr(self.instance, "tenant_id", None)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant_id = self.form_tenant_id()
        if tenant_id:
            for name, value in list(cleaned.items()):
                if name == "tenant":
                    continue
                if any(getattr(obj, "tenant_id", tenant_id) != tenant_id for obj in _related_objects(value)):
                    self.add_error(name, "belongs to another tenant")
        return cleaned

    def _get_validation_exclusions(self) -> set[str]:
        exclude = super()._get_validation_exclusions()
        # The tenant is not a form field for staff, but constraints such as
        # "alias unique per tenant" must still be checked before the service runs.
        if getattr(self.instance, "tenant_id", None):
            exclude.discard("tenant")
        return exclude


class InheritBooleanSelect(forms.NullBooleanSelect):
    """A yes/no/inherit select for key-level overrides of app settings (null = inherit)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.choices = [("unknown", "inherit from the app"), ("true", "on"), ("false", "off")]
