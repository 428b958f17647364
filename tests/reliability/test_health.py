"""``/healthz`` and ``/readyz`` (SPEC 8) of a gateway whose PostgreSQL and Redis are its own,
stopped and started under it: readiness names what failed and comes back by itself."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.reliability.support import PrivateCluster, PrivateRedis, chat_request, manage, seed_tenant
from tests.support.servers import GatewayProcess


@pytest.fixture(scope="module")
def cluster():
    cluster = PrivateCluster().create()
    manage(cluster.url, "migrate", "--noinput")
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def redis_server():
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(cluster, redis_server):
    tenant = seed_tenant(cluster.url)
    process = GatewayProcess(redis_url=redis_server.url, extra_env={"DATABASE_URL": cluster.url}).start()
    yield process, tenant
    process.stop()


def ready(gateway: GatewayProcess) -> httpx.Response:
    return httpx.get(gateway.url + "/readyz", timeout=10)


def until(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_it_is_live_and_ready_with_every_dependency_up(gateway):
    process, _ = gateway
    live = httpx.get(process.url + "/healthz", timeout=10)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert live.headers["cache-control"] == "no-store"
    response = ready(process)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "record_writer": "ok"}}


def test_it_needs_no_credential_and_answers_only_get(gateway):
    process, _ = gateway
    assert httpx.get(process.url + "/healthz", headers={"Authorization": "Bearer nonsense"}).status_code == 200
    refused = httpx.post(process.url + "/readyz", timeout=10)
    assert refused.status_code == 405
    assert refused.json()["error"]["reason"] == "method_not_allowed"


def test_it_is_not_ready_while_redis_is_away_and_ready_again_after(gateway, redis_server):
    process, _ = gateway
    redis_server.pause()
    try:
        response = ready(process)
        assert response.status_code == 503
        assert response.json()["failed"] == ["redis"]
        assert httpx.get(process.url + "/healthz", timeout=10).status_code == 200
    finally:
        redis_server.resume()
    assert until(lambda: ready(process).status_code == 200)


def test_it_is_not_ready_while_postgres_is_away_and_ready_again_after(gateway, cluster):
    process, tenant = gateway
    with httpx.Client(base_url=process.url, timeout=30) as client:
        assert chat_request(client, tenant["secret"]).status == 200  # the key is in the cache now
    cluster.stop()
    restarted = False
    try:
        response = ready(process)
        assert response.status_code == 503
        assert "database" in response.json()["failed"]
        assert "OperationalError" in response.json()["checks"]["database"]
        # A request now waits on its record: the writer retries, and readiness says so.
        with httpx.Client(base_url=process.url, timeout=30) as client:
            waiting = threading.Thread(target=chat_request, args=(client, tenant["secret"]))
            waiting.start()
            assert until(lambda: ready(process).json()["checks"]["record_writer"].startswith("retrying"), 5)
            assert httpx.get(process.url + "/healthz", timeout=10).status_code == 200
            cluster.start()
            restarted = True
            waiting.join(30)
    finally:
        if not restarted:
            cluster.start()
    assert until(lambda: ready(process).status_code == 200)
    assert ready(process).json()["checks"] == {"database": "ok", "redis": "ok", "record_writer": "ok"}
