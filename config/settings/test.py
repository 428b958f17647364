"""Tests: DEBUG on (development secrets allowed), fast hashing; database and Redis from the
environment when named there (CI), SQLite and in-process otherwise."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "true")

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CONFIG_CACHE_SECONDS = 0.2
# Tests seal explicitly; a sealer thread would race the test's own writes.
AUDIT_SEAL_IN_PROCESS = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: gateway processes started by the tests must see the same data.
    # Named after the database file (db.sqlite3 -> test-db.sqlite3), so a run pointed at another
    # DATABASE_URL does not delete the test database of a run going on beside it.
    _sqlite_name = str(DATABASES["default"]["NAME"])  # noqa: F405
    if _sqlite_name and ":memory:" not in _sqlite_name:
        _sqlite_path = Path(_sqlite_name)
        DATABASES["default"]["TEST"] = {"NAME": str(_sqlite_path.with_name(f"test-{_sqlite_path.name}"))}  # noqa: F405
