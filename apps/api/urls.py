from __future__ import annotations

from django.urls import path

from apps.api import views

urlpatterns = [
    path("apps", views.AppListView.as_view(), name="app-list"),
    path("apps/<str:app_id>", views.AppDetailView.as_view(), name="app-detail"),
    path("apps/<str:app_id>/guardrails", views.GuardrailsView.as_view(), name="app-guardrails"),
    path("apps/<str:app_id>/jwt-revocations", views.JwtRevocationListView.as_view(), name="jwt-revocation-list"),
    path(
        "apps/<str:app_id>/jwt-revocations/<str:revocation_id>",
        views.JwtRevocationDetailView.as_view(),
        name="jwt-revocation-detail",
    ),
    path("policies", views.PolicyListView.as_view(), name="policy-list"),
    path("policies/<str:policy_id>", views.PolicyDetailView.as_view(), name="policy-detail"),
]
