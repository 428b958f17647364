from __future__ import annotations

from django.urls import path

from forensics.api import views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="event-list"),
    path("logs", views.LogListView.as_view(), name="log-list"),
    # Before logs/<id>: "export" is no request id (those start with req_).
    path("logs/export", views.LogExportView.as_view(), name="log-export"),
    path("logs/<str:request_id>", views.LogDetailView.as_view(), name="log-detail"),
    path("audit/verify", views.AuditVerifyView.as_view(), name="audit-verify"),
    path("audit/public-key", views.AuditPublicKeyView.as_view(), name="audit-public-key"),
]
