"""Routes of the Django side: console, management API, API docs.

The proxy paths (/v1/chat/completions, /v1/embeddings, /v1/models and their /apps/{slug}
forms) never reach Django: ``config.asgi`` sends them to the lean proxy pipeline. No pattern
below may claim them (tests/api/test_schema.py checks it).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView

from console.static_serving import static_asset
from core.api.docs import RedocDocsView, SwaggerDocsView, docs_asset
from core.api.errors import not_found_view
from core.login_throttle import login_throttled
from identity.api.views import JwksView
from proxy.asgi_app import ENDPOINTS

management_api = [
    path("", include("keys.api.urls")),
    path("", include("apps.api.urls")),
    path("", include("identity.api.urls")),
    path("", include("providers.api.urls")),
    path("", include("forensics.api.urls")),
    path("", include("analytics.api.urls")),
]

urlpatterns = [
    # Before the admin's own patterns, so /admin/login/ (and reverse("admin:login")) is throttled.
    path("admin/login/", login_throttled(admin.site.login), name="console-login"),
    # Dashboard, log browser, playground: pages of the console beside the admin's model pages.
    path("admin/console/", include("console.urls")),
    path("admin/", admin.site.urls),
    path("v1/", include(management_api)),
    # SPEC 3.10: the keys that verify X-Agent-Identity, public.
    path(".well-known/jwks.json", JwksView.as_view(), name="identity-jwks"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SwaggerDocsView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc", RedocDocsView.as_view(url_name="schema"), name="redoc"),
    # The docs' JavaScript and CSS, served by the gateway itself (SPEC 5.9: no CDN).
    re_path(r"^static/drf_spectacular_sidecar/(?P<path>.+)$", docs_asset, name="api-docs-assets"),
]
if not settings.STATIC_URL.startswith(("http://", "https://", "//")):
    # The admin's and the console's CSS and JavaScript under uvicorn/gunicorn (no runserver).
    urlpatterns.append(re_path(rf"^{settings.STATIC_URL.strip('/')}/(?P<path>.+)$", static_asset, name="static-assets"))

# SPEC 3: every other path under /v1/ or /apps/ (and /api/) answers the JSON 404 whatever DEBUG
# says. ``handler404`` alone is not enough: with DEBUG on Django answers its HTML debug page
# instead. The lookahead leaves the proxy's own paths (proxy.asgi_app.PROXY_PATH) unresolved.
_PROXY_ENDPOINTS = "|".join(re.escape(endpoint) for endpoint in ENDPOINTS)
UNKNOWN_API_PATH = rf"^(?!(?:apps/[^/]{{1,64}}/)?v1/(?:{_PROXY_ENDPOINTS})/?$)(?:v1|apps|api)(?:/|$)"
# Last, so that it only takes what nothing above serves; exempt from CSRF like the API views,
# or an unknown path POSTed to with an org key would get Django's HTML CSRF page.
urlpatterns.append(re_path(UNKNOWN_API_PATH, csrf_exempt(not_found_view), name="unknown-api-path"))

handler404 = "core.api.errors.not_found_view"
handler500 = "core.api.errors.server_error_view"
