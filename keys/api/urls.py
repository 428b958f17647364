from __future__ import annotations

from django.urls import path

from keys.api import views

urlpatterns = [
    path("org-keys", views.OrgKeyListView.as_view(), name="org-key-list"),
    path("org-keys/<str:org_key_id>", views.OrgKeyDetailView.as_view(), name="org-key-detail"),
    path("agents/<str:agent_id>/keys", views.KeyListView.as_view(), name="key-list"),
    path("agents/<str:agent_id>/keys/<str:key_id>", views.KeyDetailView.as_view(), name="key-detail"),
    path("agents/<str:agent_id>/keys/<str:key_id>/rotate", views.KeyRotateView.as_view(), name="key-rotate"),
]
