"""Suite-wide fixtures. Subfolders add their own conftest.py for fixtures only they use."""

from __future__ import annotations

import pytest

from core.compiled import StaleExtensions, extensions_check
from tests import factories

pytest_plugins = [
    "tests.support.live_fixtures",
    "tests.support.jwt_fixtures",
    "tests.support.api_fixtures",
    # redis_cluster: a real three-master Redis Cluster for the run (before requirements, which uses it).
    "tests.support.redis_cluster",
    # needs_postgresql, needs_browser, needs_redis_cluster: skipped locally without the service, failed in CI.
    "tests.support.requirements",
    # Transactional tests empty the tables they wrote instead of truncating all of them.
    "tests.support.fast_flush",
]


def pytest_configure(config) -> None:
    """No run of compiled hot modules older than their sources (``make test`` builds them first)."""
    try:
        extensions_check()
    except StaleExtensions as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def tenant(db):
    return factories.make_tenant("Owner Org")


@pytest.fixture
def outsider(db):
    """Another tenant: nothing of ``tenant`` may ever be visible to it, and vice versa."""
    return factories.make_tenant("Outsider Org")


@pytest.fixture
def agent(tenant):
    return factories.make_agent(tenant)
