"""ASGI entry point: the proxy pipeline for the proxy paths, Django for everything else."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()
application = django_application
