"""Routes of the Django side: console, management API, API docs.

The proxy paths (/v1/chat/completions, /v1/embeddings, /v1/models and their /apps/{slug}
forms) never reach Django: ``config.asgi`` sends them to the lean proxy pipeline. No pattern
below may claim them (tests/api/test_schema.py checks it).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from core.api.docs import RedocDocsView, SwaggerDocsView, docs_asset

management_api = [
    path("", include("keys.api.urls")),
    path("", include("apps.api.urls")),
    path("", include("identity.api.urls")),
    path("", include("proxy.api.urls")),
    path("", include("forensics.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", include(management_api)),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SwaggerDocsView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc", RedocDocsView.as_view(url_name="schema"), name="redoc"),
    # The docs' JavaScript and CSS, served by the gateway itself (SPEC 5.9: no CDN).
    re_path(r"^static/drf_spectacular_sidecar/(?P<path>.+)$", docs_asset, name="api-docs-assets"),
]

handler404 = "core.api.errors.not_found_view"
handler500 = "core.api.errors.server_error_view"
