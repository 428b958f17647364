"""OpenAPI generation (SPEC 5.9): drf-spectacular, plus what it cannot infer by itself.

- every operation documents the error envelope for the statuses it can answer;
- list responses are the SPEC's ``{"object": "list", ...}`` page of their item schema;
- the org key bearer scheme and the console session are declared as security schemes;
- the constant ``object`` field is typed as the string it always holds.

The extensions register themselves when this module is imported, which every API view
module does (through ``core.api.views``), so they exist before a schema is generated.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from core.api.pagination import DEFAULT_LIMIT, MAX_LIMIT

LIST_PARAMETERS = [
    OpenApiParameter(
        "limit", int, OpenApiParameter.QUERY, description=f"page size, default {DEFAULT_LIMIT}, at most {MAX_LIMIT}"
    ),
    OpenApiParameter("after", str, OpenApiParameter.QUERY, description="the `last_id` of the previous page"),
]

ERROR_DESCRIPTIONS = {
    "400": "invalid_request: malformed JSON, unknown, missing or wrong fields",
    "401": "unauthorized: no valid credential",
    "403": "forbidden: wrong credential type or insufficient role",
    "404": "not_found: unknown id, or an id of another tenant",
}


AGENT_KEY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "aid_sk_…",
    "description": "An agent key: the proxy's credential; on the management API it may only read its app's guardrails.",
}


class ErrorSerializer(serializers.Serializer):
    """SPEC section 4: `reason` is a finer cause, or the `code` itself."""

    code = serializers.CharField()
    reason = serializers.CharField()
    message = serializers.CharField()
    type = serializers.ChoiceField(
        choices=[
            "invalid_request_error",
            "authentication_error",
            "permission_error",
            "not_found_error",
            "rate_limit_error",
            "api_error",
        ]
    )
    request_id = serializers.CharField()


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The body of every error of the gateway."""

    error = ErrorSerializer()


@functools.cache
def list_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of ``item`` objects (one component per item type)."""
    name = item.__name__.removesuffix("Serializer")
    return type(
        f"{name}ListSerializer",
        (serializers.Serializer,),
        {
            "__module__": item.__module__,
            "__doc__": f"A page of {name} objects, oldest first unless stated otherwise.",
            "object": serializers.CharField(help_text='always "list"'),
            "data": item(many=True),
            "has_more": serializers.BooleanField(),
            "last_id": serializers.CharField(allow_null=True, help_text="pass as `after` for the next page"),
        },
    )


class GatewayAutoSchema(AutoSchema):
    """Adds the error responses an operation can answer to what its view declares."""

    def get_description(self) -> str:
        # Only a view's own docstring describes it; inherited ones describe the base classes.
        handler = getattr(self.view, self.method.lower(), None)
        doc = inspect.getdoc(handler) if handler is not None else None
        return doc or inspect.cleandoc(type(self.view).__dict__.get("__doc__") or "")

    def get_auth(self) -> list[dict[str, list]]:
        """A view that lets agent keys read (``agent_key_reads``) lists them for its reads."""
        auth = super().get_auth()
        if getattr(self.view, "agent_key_reads", False) and self.method == "GET":
            auth.append({"agentKey": []})
        return auth

    def _error_statuses(self) -> list[str]:
        if getattr(self.view, "public", False):  # no credential read, none refused
            return []
        statuses = ["401", "403"]
        takes_input = self.method in ("POST", "PUT", "PATCH", "DELETE")
        is_list = any(getattr(p, "name", None) == "limit" for p in self.get_override_parameters())
        if takes_input or is_list:
            statuses.insert(0, "400")
        if "{" in self.path:
            statuses.append("404")
        return statuses

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        bodies = super()._get_response_bodies(direction)
        error = self.resolve_serializer(ErrorEnvelopeSerializer, "response").ref
        for status in self._error_statuses():
            bodies.setdefault(
                status,
                {"description": ERROR_DESCRIPTIONS[status], "content": {"application/json": {"schema": error}}},
            )
        return bodies


class ObjectTypeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.api.serializers.ObjectTypeField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        value = self.target.parent.object_type
        return {"type": "string", "readOnly": True, "pattern": f"^{value}$", "example": value}
