"""Reads of providers, aliases and prices, always within one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from providers.models import Alias, ModelPrice, Provider


def provider_list(*, tenant_id: str) -> QuerySet[Provider]:
    return Provider.objects.for_tenant(tenant_id)


def provider_get(*, tenant_id: str, provider_id: str) -> Provider | None:
    return provider_list(tenant_id=tenant_id).filter(pk=provider_id).first()


def alias_list(*, tenant_id: str) -> QuerySet[Alias]:
    return Alias.objects.for_tenant(tenant_id)


def alias_get(*, tenant_id: str, alias_id: str) -> Alias | None:
    return alias_list(tenant_id=tenant_id).filter(pk=alias_id).first()


def price_list(*, tenant_id: str) -> QuerySet[ModelPrice]:
    return ModelPrice.objects.for_tenant(tenant_id).order_by("created_at", "id")


def price_get(*, tenant_id: str, price_id: str) -> ModelPrice | None:
    if not str(price_id).isdigit():
        return None
    return price_list(tenant_id=tenant_id).filter(pk=int(price_id)).first()
