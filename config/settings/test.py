"""Tests: DEBUG on (development secrets allowed), fast hashing; database and Redis from the
environment when named there (CI), SQLite and in-process otherwise."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DEBUG", "true")


def _redis_url_of_worker(url: str, worker: str) -> str:
    """Each pytest-xdist worker on its own Redis database, counting down from the run's (gw0
    keeps it): platform-wide keys (the sign-in throttle, the app directory's generation) must
    not be shared by tests running at once, as each worker has its own test database."""
    index = int(worker.removeprefix("gw") or 0)
    parts = urlsplit(url)
    if "+cluster" in parts.scheme:
        return url  # one database only on a cluster: its tests name tenants of their own
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base - index) % 16}"))


# Without REDIS_URL the tests that need Redis use the machine's (tests/support/servers.py).
os.environ.setdefault("TEST_LOCAL_REDIS_URL", "redis://127.0.0.1:6379/14")
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("REDIS_URL", "TEST_LOCAL_REDIS_URL"):
        if os.environ.get(_name):
            os.environ[_name] = _redis_url_of_worker(os.environ[_name], _worker)

from .base import *  # noqa: E402, F403

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
