"""Fixtures of the consistency tests: two gateway processes on the test database and Redis."""

from __future__ import annotations

import pytest

from tests.consistency.support import GatewayPair
from tests.support.servers import GatewayProcess, redis_url_for_tests


@pytest.fixture(scope="package")
def shared_redis_url() -> str:
    url = redis_url_for_tests()
    if url is None:
        pytest.fail("these tests need Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    return url


@pytest.fixture(scope="package")
def gateway_processes(django_db_setup, django_db_blocker, shared_redis_url):
    """Two gateway processes for every test of the folder; each test makes its own tenant.

    Starting one costs seconds of CPU (Django and the gateway imported afresh), so the six
    modules share them rather than starting two each; their tests already share them within
    a module and rely on nothing a process holds but what Redis and the database tell it."""
    gateways = [GatewayProcess(redis_url=shared_redis_url).start() for _ in range(2)]
    yield gateways
    for gateway in gateways:
        gateway.stop()


@pytest.fixture
def pair(transactional_db, gateway_processes, settings, shared_redis_url):
    from tests import factories

    settings.REDIS_URL = shared_redis_url  # what this process writes is published too
    tenant, _, org_secret = factories.make_tenant_with_org_key()
    pair = GatewayPair(gateway_processes, org_secret, tenant.id)
    yield pair
    pair.close()
