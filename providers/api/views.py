"""Providers and aliases (SPEC 5.5)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.schema import LIST_PARAMETERS, list_of
from core.api.views import ManagementView
from providers.api.serializers import (
    AliasInputSerializer,
    AliasSerializer,
    PriceInputSerializer,
    PriceSerializer,
    ProviderInputSerializer,
    ProviderSerializer,
)
from providers.models import Alias, ModelPrice, Provider
from providers.selectors import alias_get, alias_list, price_get, price_list, provider_get, provider_list
from providers.services import (
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


class ProviderListView(ManagementView):
    @extend_schema(operation_id="provider_list", parameters=LIST_PARAMETERS, responses=list_of(ProviderSerializer))
    def get(self, request: Request) -> Response:
        return self.page(provider_list(tenant_id=self.tenant_id), ProviderSerializer)

    @extend_schema(operation_id="provider_create", request=ProviderInputSerializer, responses={201: ProviderSerializer})
    def post(self, request: Request) -> Response:
        data = self.validated(ProviderInputSerializer)
        provider = provider_create(tenant_id=self.tenant_id, actor=self.actor, **data)
        return Response(ProviderSerializer(provider).data, status=201)


class ProviderDetailView(ManagementView):
    def get_provider(self, provider_id: str) -> Provider:
        return self.found(provider_get(tenant_id=self.tenant_id, provider_id=provider_id), "provider")

    @extend_schema(operation_id="provider_get", responses=ProviderSerializer)
    def get(self, request: Request, provider_id: str) -> Response:
        return Response(ProviderSerializer(self.get_provider(provider_id)).data)

    @extend_schema(operation_id="provider_update", request=ProviderInputSerializer, responses=ProviderSerializer)
    def patch(self, request: Request, provider_id: str) -> Response:
        provider = self.get_provider(provider_id)
        data = self.validated(ProviderInputSerializer, partial=True)
        return Response(ProviderSerializer(provider_update(provider=provider, actor=self.actor, data=data)).data)

    @extend_schema(operation_id="provider_delete", responses={204: None})
    def delete(self, request: Request, provider_id: str) -> Response:
        provider_delete(provider=self.get_provider(provider_id), actor=self.actor)
        return Response(status=204)


class AliasListView(ManagementView):
    @extend_schema(operation_id="alias_list", parameters=LIST_PARAMETERS, responses=list_of(AliasSerializer))
    def get(self, request: Request) -> Response:
        return self.page(alias_list(tenant_id=self.tenant_id), AliasSerializer)

    @extend_schema(
        operation_id="alias_create",
        description="An alias name taken in this tenant answers 400 invalid_request, reason alias_taken.",
        request=AliasInputSerializer,
        responses={201: AliasSerializer},
    )
    def post(self, request: Request) -> Response:
        alias = alias_create(tenant_id=self.tenant_id, actor=self.actor, **self.validated(AliasInputSerializer))
        return Response(AliasSerializer(alias).data, status=201)


class AliasDetailView(ManagementView):
    def get_alias(self, alias_id: str) -> Alias:
        return self.found(alias_get(tenant_id=self.tenant_id, alias_id=alias_id), "alias")

    @extend_schema(operation_id="alias_get", responses=AliasSerializer)
    def get(self, request: Request, alias_id: str) -> Response:
        return Response(AliasSerializer(self.get_alias(alias_id)).data)

    @extend_schema(operation_id="alias_update", request=AliasInputSerializer, responses=AliasSerializer)
    def patch(self, request: Request, alias_id: str) -> Response:
        alias = self.get_alias(alias_id)
        data = self.validated(AliasInputSerializer, partial=True)
        return Response(AliasSerializer(alias_update(alias=alias, actor=self.actor, data=data)).data)

    @extend_schema(operation_id="alias_delete", responses={204: None})
    def delete(self, request: Request, alias_id: str) -> Response:
        alias_delete(alias=self.get_alias(alias_id), actor=self.actor)
        return Response(status=204)


class PriceListView(ManagementView):
    @extend_schema(operation_id="price_list", parameters=LIST_PARAMETERS, responses=list_of(PriceSerializer))
    def get(self, request: Request) -> Response:
        return self.page(price_list(tenant_id=self.tenant_id), PriceSerializer)

    @extend_schema(operation_id="price_create", request=PriceInputSerializer, responses={201: PriceSerializer})
    def post(self, request: Request) -> Response:
        price = price_create(tenant_id=self.tenant_id, actor=self.actor, **self.validated(PriceInputSerializer))
        return Response(PriceSerializer(price).data, status=201)


class PriceDetailView(ManagementView):
    def get_price(self, price_id: str) -> ModelPrice:
        return self.found(price_get(tenant_id=self.tenant_id, price_id=price_id), "price")

    @extend_schema(operation_id="price_get", responses=PriceSerializer)
    def get(self, request: Request, price_id: str) -> Response:
        return Response(PriceSerializer(self.get_price(price_id)).data)

    @extend_schema(operation_id="price_update", request=PriceInputSerializer, responses=PriceSerializer)
    def patch(self, request: Request, price_id: str) -> Response:
        price = self.get_price(price_id)
        data = self.validated(PriceInputSerializer, partial=True)
        return Response(PriceSerializer(price_update(price=price, actor=self.actor, data=data)).data)

    @extend_schema(operation_id="price_delete", responses={204: None})
    def delete(self, request: Request, price_id: str) -> Response:
        price_delete(price=self.get_price(price_id), actor=self.actor)
        return Response(status=204)
