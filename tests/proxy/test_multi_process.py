"""Two gateway processes sharing the database and Redis (one node, and a Redis Cluster): the
unit of horizontal scale."""

from __future__ import annotations

import time

import httpx
import pytest

from core.actors import SYSTEM
from keys.services import key_revoke
from tests import factories
from tests.support.requirements import needs_redis_cluster
from tests.support.servers import GatewayProcess, redis_url_for_tests


@pytest.fixture(params=["node", pytest.param("cluster", marks=needs_redis_cluster)])
def shared_redis(request, settings):
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster").url
    elif (url := redis_url_for_tests()) is None:
        pytest.fail("these tests need Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    settings.REDIS_URL = url  # this process publishes configuration changes there too
    return url


@pytest.fixture
def two_gateways(transactional_db, shared_redis):
    gateways = [GatewayProcess(redis_url=shared_redis).start() for _ in range(2)]
    yield gateways
    for gateway in gateways:
        gateway.stop()


def test_it_refuses_a_revoked_key_on_every_process_within_one_second(two_gateways):
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    key, secret = factories.make_key(factories.make_agent(tenant))
    clients = [httpx.Client(base_url=g.url, headers={"X-API-Key": secret}, timeout=5) for g in two_gateways]
    for client in clients:  # warm both caches
        assert client.get("/v1/models").status_code == 200

    key_revoke(key=key, actor=SYSTEM)
    revoked_at = time.monotonic()
    for client in clients:
        while client.get("/v1/models").status_code == 200:
            assert time.monotonic() - revoked_at < 1.0, "a process still accepted the key after one second"
            time.sleep(0.02)
        response = client.get("/v1/models")
        assert response.json()["error"]["reason"] == "key_revoked"
