"""Console pages, mounted under /admin/console/ (config/urls.py), next to the admin."""

from __future__ import annotations

from django.urls import path

from console.views import activity, app_token, dashboard, keys, logs, playground, reports

app_name = "console"

urlpatterns = [
    path("", dashboard.dashboard_view, name="dashboard"),
    path("users/", activity.user_list_view, name="users"),
    path("conversations/", activity.conversation_list_view, name="conversations"),
    path("conversation/", activity.conversation_detail_view, name="conversation"),
    path("logs/", logs.log_list_view, name="logs"),
    path("logs/export/", logs.log_export_view, name="logs-export"),
    path("logs/<str:request_id>/", logs.log_detail_view, name="log"),
    path("playground/", playground.playground_view, name="playground"),
    path("reports/", reports.report_list_view, name="reports"),
    path("keys/confirm/", keys.key_confirm_view, name="key-confirm"),
    path("apps/<str:app_id>/token-check/", app_token.app_token_check_view, name="app-token-check"),
]
