from __future__ import annotations

from django.urls import path

from analytics.api import views

urlpatterns = [
    path("usage", views.UsageView.as_view(), name="usage"),
    path("agents/<str:agent_id>/usage", views.AgentUsageView.as_view(), name="agent-usage"),
    path("users", views.EndUserListView.as_view(), name="end-user-list"),
    path("users/<str:user>/conversations", views.ConversationListView.as_view(), name="end-user-conversations"),
    path("reports", views.ReportListView.as_view(), name="report-list"),
    path("reports/<str:report_id>", views.ReportDetailView.as_view(), name="report-detail"),
    path("reports/<str:report_id>/download", views.ReportDownloadView.as_view(), name="report-download"),
]
