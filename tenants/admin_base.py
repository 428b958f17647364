"""The base classes of every admin page: tenant isolation for the console (SPEC section 7), in one place.

A console user is either a platform superuser, who sees every tenant, or tenant staff with a
``tenants.Membership``, who sees one tenant and acts in it with the membership's role
(``admin`` writes, ``viewer`` reads); :func:`tenants.access.console_user_access` decides
which, for the admin as for the console pages, the management API and the playground. Every
admin class of the project derives from :class:`TenantScopedAdmin` (or
:class:`ReadOnlyTenantScopedAdmin`), so lists, forms, foreign-key choices, object lookups,
actions and permissions are restricted by this code and not by each admin remembering to: a
new admin that forgets a step is the bug this module exists to prevent.

- Lists and object URLs: :meth:`TenantScopedAdmin.get_queryset` filters by tenant. Django's
  admin resolves every object URL (change, delete, history) and every action's selection
  through it, so another tenant's id answers exactly like an unknown id.
- Choices: foreign-key and many-to-many choices are what the related model's admin lets the
  user see (tenant, and no deleted agents), and forms refuse a related object of another
  tenant even for superusers, who could otherwise mix two tenants in one object.
- Permissions come from the membership, not from Django model permissions, so a tenant
  admin needs no per-model permission rows.
- Writes go through the domain services (validation and the event trail): admin classes
  implement :meth:`TenantScopedAdmin.service_create`, ``service_update`` and
  ``service_delete``; the default ``Model.save()``/``delete()`` are never called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from core.actors import Actor
from core.admin_forms import ConsoleModelForm, TenantScopedForm
from core.admin_refusals import REFUSAL_ATTR, ServiceRefused, service_refusals
from tenants.access import ConsoleAccess, console_access, console_actor

# Columns, filters and form fields that only make sense when several tenants are visible.
PLATFORM_ONLY_NAMES = frozenset({"tenant", "tenant_id"})


def _has_tenant_fk(model: type[models.Model]) -> bool:
    return any(f.name == "tenant" and f.is_relation for f in model._meta.concrete_fields)


def _strip_platform_only(names: Iterable[Any]) -> list[Any]:
    kept = []
    for name in names:
        key = name[0] if isinstance(name, list | tuple) else name
        if isinstance(key, str) and (key in PLATFORM_ONLY_NAMES or key.startswith("tenant__")):
            continue
        kept.append(name)
    return kept


def adopt(target: models.Model, source: models.Model) -> None:
    """Copy the saved state of ``source`` into ``target``, the instance Django's admin holds.

    The services build and save their own instances; the admin keeps going with the form's
    instance (for the redirect, the log entry and inlines), so it must become the saved one.
    """
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db
    target._state.fields_cache.clear()


class TenantScopedAdmin(admin.ModelAdmin):
    """Base of every console admin; see the module docstring for what it enforces."""

    form = TenantScopedForm
    # How to filter this model by tenant: "tenant_id" (FK or plain string column) or "pk".
    tenant_lookup: ClassVar[str] = "tenant_id"
    # Whether a platform superuser picks the tenant on the add form (else a subclass sets it).
    tenant_in_add_form: ClassVar[bool] = True
    # Only platform superusers see this admin at all (e.g. memberships).
    platform_only: ClassVar[bool] = False
    # Creation often takes other inputs than editing (a key's lifetime, a member's email).
    add_form: ClassVar[type[forms.ModelForm] | None] = None
    add_fieldsets: ClassVar[list[tuple[Any, dict]] | None] = None

    # --- who sees what ---

    def tenant_of(self, obj: models.Model) -> str | None:
        return getattr(obj, "pk" if self.tenant_lookup == "pk" else self.tenant_lookup)

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Restrict any queryset of this model to what the user may see."""
        access = console_access(request)
        if access is None or (self.platform_only and not access.is_platform):
            return queryset.none()
        if access.is_platform:
            return queryset
        return queryset.filter(**{self.tenant_lookup: access.tenant_id})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope_queryset(request, super().get_queryset(request))

    def _owns(self, access: ConsoleAccess, obj: models.Model | None) -> bool:
        return obj is None or access.is_platform or self.tenant_of(obj) == access.tenant_id

    def _access(self, request: HttpRequest) -> ConsoleAccess | None:
        access = console_access(request)
        if access is None or (self.platform_only and not access.is_platform):
            return None
        return access

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._access(request) is not None

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        access = self._access(request)
        return access is not None and self._owns(access, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        access = self._access(request)
        return access is not None and access.can_write

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        access = self._access(request)
        return access is not None and access.can_write and self._owns(access, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        access = self._access(request)
        return access is not None and access.can_write and self._owns(access, obj)

    def has_write_permission(self, request: HttpRequest) -> bool:
        """For custom actions (``permissions=["write"]``): revoke, rotate, suspend…"""
        access = self._access(request)
        return access is not None and access.can_write

    # --- choices ---

    def _choice_queryset(self, request: HttpRequest, model: type[models.Model], queryset: QuerySet | None) -> QuerySet:
        related_admin = self.admin_site._registry.get(model)
        if isinstance(related_admin, TenantScopedAdmin):
            return related_admin.get_queryset(request)
        base = queryset if queryset is not None else model._default_manager.all()
        access = console_access(request)
        if access is not None and access.is_platform:
            return base
        if access is not None and any(f.attname == "tenant_id" for f in model._meta.concrete_fields):
            return base.filter(tenant_id=access.tenant_id)
        return base.none()

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs["queryset"] = self._choice_queryset(request, db_field.related_model, kwargs.get("queryset"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs["queryset"] = self._choice_queryset(request, db_field.related_model, kwargs.get("queryset"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- what is shown ---

    def _is_platform(self, request: HttpRequest) -> bool:
        access = console_access(request)
        return access is not None and access.is_platform

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        names = list(super().get_list_display(request))
        return names if self._is_platform(request) else _strip_platform_only(names)

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        names = list(super().get_list_filter(request))
        return names if self._is_platform(request) else _strip_platform_only(names)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        names = list(super().get_search_fields(request))
        return names if self._is_platform(request) else _strip_platform_only(names)

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        names = list(super().get_readonly_fields(request, obj))
        # Moving an object to another tenant would break every reference to it.
        if obj is not None and _has_tenant_fk(self.model) and "tenant" not in names:
            names.append("tenant")
        return names

    def get_fieldsets(self, request: HttpRequest, obj: models.Model | None = None) -> list[tuple[Any, dict]]:
        if obj is None and self.add_fieldsets is not None:
            fieldsets = self.add_fieldsets
        else:
            fieldsets = super().get_fieldsets(request, obj)
        show_tenant = self._is_platform(request) and (obj is not None or self.tenant_in_add_form)
        hidden = set() if show_tenant else {"tenant"}
        if not self._is_platform(request):
            hidden |= PLATFORM_ONLY_NAMES
        result = []
        for name, options in fieldsets:
            fields = [f for f in options.get("fields", ()) if f not in hidden]
            if fields:
                result.append((name, {**options, "fields": fields}))
        shown = {f for _, options in result for f in options["fields"]}
        if show_tenant and _has_tenant_fk(self.model) and "tenant" not in shown:
            first_name, first_options = result[0]
            result[0] = (first_name, {**first_options, "fields": ["tenant", *first_options["fields"]]})
        return result

    def get_form(self, request: HttpRequest, obj: models.Model | None = None, change: bool = False, **kwargs: Any):
        if obj is None and self.add_form is not None:
            kwargs.setdefault("form", self.add_form)
        form = super().get_form(request, obj, change=change, **kwargs)
        # modelform_factory built a fresh class for this request: binding to it is safe.
        if issubclass(form, TenantScopedForm):
            access = console_access(request)
            form.console_tenant_id = access.tenant_id if access else None
        if issubclass(form, ConsoleModelForm):
            form.service_refusal = getattr(request, REFUSAL_ATTR, None)
        return form

    # --- writes, through the services ---

    def service_create(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, actor: Actor) -> Any:
        """Create through the service; ``obj`` is the validated, unsaved form instance."""
        raise NotImplementedError(f"{type(self).__name__} has no create service")

    def service_update(self, request: HttpRequest, current: models.Model, form: forms.ModelForm, actor: Actor) -> Any:
        """Update through the service; ``current`` is a fresh copy from the database."""
        raise NotImplementedError(f"{type(self).__name__} has no update service")

    def service_delete(self, request: HttpRequest, obj: models.Model, actor: Actor) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no delete service")

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool) -> None:
        actor = console_actor(request)
        with service_refusals():
            if change:
                # The form already wrote its values into ``obj``; the services compare
                # before/after for the event trail, so they get the stored state.
                current = self.model._default_manager.get(pk=obj.pk)
                saved = self.service_update(request, current, form, actor)
            else:
                saved = self.service_create(request, obj, form, actor)
        adopt(obj, saved)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        # Many-to-many values were written by the service; form.save_m2m() would bypass it.
        for formset in formsets:
            with service_refusals():
                self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not save inlines through a service")

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with service_refusals():
            self.service_delete(request, obj, console_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # One service call per object so each deletion is validated and recorded;
        # ``queryset`` is already the user's tenant (it comes from get_queryset). All or
        # nothing: a refusal of one object rolls back the others.
        actor = console_actor(request)
        with transaction.atomic():
            for obj in queryset:
                with service_refusals():
                    self.service_delete(request, obj, actor)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refusal:
            # The first attempt's transaction rolled back. Validate the same POST again with
            # the refusal attached, so the form comes back with the user's input and the reason.
            setattr(request, REFUSAL_ATTR, refusal)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as refusal:
            messages.error(request, str(refusal))
            return HttpResponseRedirect(request.path)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method != "POST":
            return super().changelist_view(request, extra_context)
        try:
            # Actions run in one transaction, so a refusal also drops Django's log entries
            # of a "delete selected" that did not happen.
            with transaction.atomic():
                return super().changelist_view(request, extra_context)
        except ServiceRefused as refusal:
            messages.error(request, str(refusal))
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyTenantScopedAdmin(TenantScopedAdmin):
    """Evidence (request logs, events): visible to the tenant, never written from the console."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class TenantScopedInline(admin.StackedInline):
    """An inline whose permissions follow the parent's membership, like the parent admin."""

    form = ConsoleModelForm

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return console_access(request) is not None

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        access = console_access(request)
        return access is not None and access.can_write

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        access = console_access(request)
        return access is not None and access.can_write

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
