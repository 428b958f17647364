from __future__ import annotations

from django.urls import path

from identity.api import views

urlpatterns = [
    path("agents", views.AgentListView.as_view(), name="agent-list"),
    path("agents/<str:agent_id>", views.AgentDetailView.as_view(), name="agent-detail"),
    path("agents/<str:agent_id>/identity", views.AgentIdentityView.as_view(), name="agent-identity"),
    path("agents/<str:agent_id>/logs", views.AgentLogListView.as_view(), name="agent-log-list"),
]
