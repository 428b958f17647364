"""Management routes of providers, aliases and prices.

The proxy's own paths (/v1/chat/completions, /v1/embeddings, /v1/models) are served by the
ASGI proxy pipeline and must never be claimed here; they are documented through
``proxy.openapi.proxy_paths_add`` instead.
"""

from __future__ import annotations

from django.urls import path

from providers.api import views

urlpatterns = [
    path("providers", views.ProviderListView.as_view(), name="provider-list"),
    path("providers/<str:provider_id>", views.ProviderDetailView.as_view(), name="provider-detail"),
    path("aliases", views.AliasListView.as_view(), name="alias-list"),
    path("aliases/<str:alias_id>", views.AliasDetailView.as_view(), name="alias-detail"),
    path("prices", views.PriceListView.as_view(), name="price-list"),
    path("prices/<str:price_id>", views.PriceDetailView.as_view(), name="price-detail"),
]
