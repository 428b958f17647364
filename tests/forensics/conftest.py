"""Fixtures of the forensics tests: one API client per kind of caller of the owner tenant."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture
def server_sessions_ended(django_db_blocker):
    """For tests that call the management API through the live server: Django keeps each of
    its ASGI worker threads' database connections open (``CONN_MAX_AGE``), and PostgreSQL
    refuses to drop the test database while they are. Request this fixture before ``world``
    so that it ends them after the server has stopped."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
