"""Routes of the Django side: console, management API, API docs.

The proxy paths (/v1/chat/completions, /v1/embeddings, /v1/models and their /apps/{slug}
forms) never reach Django: ``config.asgi`` sends them to the lean proxy pipeline.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
