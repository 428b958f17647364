"""The API docs pages (SPEC 5.9), with every asset served by the gateway itself.

The JavaScript and CSS of Swagger UI and ReDoc come from drf-spectacular-sidecar. Two
things in the stock pages would still reach the internet: the ReDoc template links Google
Fonts (this page drops those links; ReDoc falls back to system fonts), and the ReDoc
bundle shows a logo from cdn.redoc.ly. A Content-Security-Policy limited to the gateway's
own origin keeps the browser from fetching anything else at all.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.staticfiles.views import serve as static_serve
from django.http import Http404, HttpRequest, HttpResponse
from django.template import engines
from django.template.backends.django import Template
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response

# Inline scripts and styles: the stock Swagger UI page configures itself inline, and ReDoc
# injects its styles; its search runs in a worker started from a blob.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'"
)

REDOC_PAGE = """{% extends "drf_spectacular/redoc.html" %}
{% block head %}
<title>{{ title|default:"Redoc" }}</title>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; padding: 0; }</style>
{% endblock head %}
"""


@functools.cache
def _redoc_template() -> Template:
    return engines["django"].from_string(REDOC_PAGE)


class SelfHostedDocsMixin:
    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class SwaggerDocsView(SelfHostedDocsMixin, SpectacularSwaggerView):
    """Swagger UI at /api/docs."""


class RedocDocsView(SelfHostedDocsMixin, SpectacularRedocView):
    """ReDoc at /api/redoc, without the stock page's Google Fonts links."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse | Response:
        context = {
            "title": self.title,
            "redoc_standalone": self._redoc_standalone(),
            "schema_url": self._get_schema_url(request),
            "settings": self._dump(spectacular_settings.REDOC_UI_SETTINGS),
        }
        return HttpResponse(_redoc_template().render(context, request._request))


def docs_asset(request: HttpRequest, path: str) -> HttpResponse:
    """A file of drf-spectacular-sidecar, whether or not DEBUG is on or collectstatic ran.

    Only that package's files: the rest of /static/ is left to whatever serves static files.
    """
    if ".." in path.split("/"):
        raise Http404(path)
    return static_serve(request, f"drf_spectacular_sidecar/{path}", insecure=True)
