"""Settings by environment; ``settings_module_default`` picks one when none is named."""

from __future__ import annotations

import os

PRODUCTION = "config.settings.production"
LOCAL = "config.settings.local"
_TRUE = {"1", "true", "yes", "y", "on", "ok"}


def settings_module_default() -> str:
    """Production unless ``DEBUG`` is true (SPEC 8).

    Every entry point (``manage.py``, ASGI, WSGI, Celery) uses this when
    ``DJANGO_SETTINGS_MODULE`` is unset, so a deployment that forgets it refuses to start
    without its secrets instead of running with DEBUG on and the published development ones.
    ``make run`` sets ``DEBUG=true`` for the embedded default.
    """
    return LOCAL if os.environ.get("DEBUG", "").strip().lower() in _TRUE else PRODUCTION
