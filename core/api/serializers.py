"""Serializer bases shared by every resource.

Request bodies subclass :class:`InputSerializer`, which refuses unknown fields (SPEC 5: a
typo must not be silently ignored). Responses subclass :class:`ObjectSerializer`, which puts
``id``, ``object`` and ``created_at`` on every object (SPEC 1). Serializers only shape and
type-check data; the rules live in the models' ``clean`` and in the services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.db.models import Model
from rest_framework import serializers


class InputSerializer(serializers.Serializer):
    """A request body: known fields only, each typed; ``validated_data`` goes to a service."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail("unknown field", code="unknown_field")] for name in unknown}
                )
        return super().to_internal_value(data)


class ObjectTypeField(serializers.Field):
    """The constant ``object`` of a response object, taken from its serializer."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(read_only=True, source="*")
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return self.parent.object_type


class ObjectSerializer(serializers.ModelSerializer):
    """A response object; subclasses set ``object_type`` and ``Meta.fields`` (``OBJECT_FIELDS`` first)."""

    object_type: ClassVar[str] = ""
    object = ObjectTypeField()


OBJECT_FIELDS = ["id", "object", "created_at"]


def string_list(**kwargs: Any) -> serializers.ListField:
    """A list of strings, kept exactly as sent (a glob with a space is refused, not trimmed)."""
    return serializers.ListField(child=serializers.CharField(trim_whitespace=False, max_length=320), **kwargs)


def related_selector(model: type[Model], field_name: str) -> Callable[..., Model | None]:
    """A selector of the object that ``model.field_name`` points to, within a tenant.

    For an API whose model refers to another app's model that the API's own layer may not
    import (an agent's app): the relation the model already declares names the target, as
    Django's and DRF's related fields find it.
    """

    def select(*, tenant_id: str, object_id: str) -> Model | None:
        target = model._meta.get_field(field_name).related_model
        return target.objects.for_tenant(tenant_id).filter(pk=object_id).first()

    return select


class TenantObjectField(serializers.CharField):
    """An id in a request body, resolved within the caller's tenant by a selector.

    An unknown id and another tenant's id give the same error, so nothing leaks.
    """

    def __init__(self, *, selector: Callable[..., Model | None], id_arg: str, noun: str, **kwargs: Any) -> None:
        self.selector, self.id_arg, self.noun = selector, id_arg, noun
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Model | None:
        # Resolve after the string checks (length, null), which run on the id, not the object.
        value = super().run_validation(data)
        if value is None:
            return None
        found = self.selector(tenant_id=self.context["tenant_id"], **{self.id_arg: value})
        if found is None:
            raise serializers.ValidationError(f"names no {self.noun} of this tenant")
        return found
