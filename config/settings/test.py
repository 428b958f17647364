"""Tests: DEBUG on (development secrets allowed), fast hashing; database and Redis from the
environment when named there (CI), SQLite and in-process otherwise."""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "true")

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CONFIG_CACHE_SECONDS = 0.2

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: gateway processes started by the tests must see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}  # noqa: F405
