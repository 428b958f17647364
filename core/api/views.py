"""The base of every management endpoint.

A view method reads the caller from ``self.principal`` (tenant, role, actor), validates its
body with ``self.validated(...)``, calls a selector or a service with ``tenant_id=`` and
answers through ``self.page``/``Response``. Authentication, the role check and the error
envelope are inherited, so a view cannot forget them.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from core.actors import Actor
from core.api.errors import request_id
from core.api.pagination import cursor_page, list_body, page_limit
from core.api.permissions import ManagementAccess
from core.api.principal import Principal
from core.errors import not_found

T = TypeVar("T")


class ManagementView(APIView):
    """Credential, role and tenant are settled before a handler runs (see ManagementAccess)."""

    permission_classes = [ManagementAccess]
    # Reads of this view need the admin role too (org keys: SPEC 5.0).
    admin_only: ClassVar[bool] = False
    # Agent keys may read this view (guardrails: SPEC 5.6); their writes are refused.
    agent_key_reads: ClassVar[bool] = False

    @property
    def principal(self) -> Principal:
        return self.request.auth

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    @property
    def actor(self) -> Actor:
        actor = self.principal.actor
        if actor is None:  # only agent keys have none, and ManagementAccess lets them read only
            raise RuntimeError("a write without an actor")
        return actor

    def validated(self, serializer_class: type[BaseSerializer], *, partial: bool = False) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, partial=partial, context={"tenant_id": self.tenant_id})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @staticmethod
    def found(obj: T | None, noun: str) -> T:
        """The object, or ``404 not_found`` — for unknown ids and other tenants' ids alike."""
        if obj is None:
            raise not_found(f"no such {noun}")
        return obj

    def page(self, queryset: QuerySet[Any], serializer_class: type[BaseSerializer], **kwargs: Any) -> Response:
        params = self.request.query_params
        page = cursor_page(queryset, limit=page_limit(params.get("limit")), after=params.get("after"), **kwargs)
        return Response(list_body(serializer_class(page.items, many=True).data, page.has_more))

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["X-Request-ID"] = request_id(request)
        return response
