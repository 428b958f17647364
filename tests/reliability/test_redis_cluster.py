"""The gateway on a real three-master Redis Cluster (``REDIS_URL=redis+cluster://…``): every key
a tenant's requests and changes write lies in the tenant's one slot, objects created through
one process work at once on the other, and the console's sign-in throttle (Django's cache)
works across slots. The limits' exactness on a cluster is shown by tests/policies/test_exactness.py
and tests/reliability/test_two_processes.py, run on one node and on the cluster."""

from __future__ import annotations

import httpx
import pytest
from django.core.cache import cache as django_cache
from django.test import override_settings
from redis.crc import key_slot

from apps.services import app_update
from core.actors import SYSTEM
from core.login_throttle import login_failure_count, login_failures_exceeded, login_failures_forget
from proxy.config_generation import APP_DIRECTORY_KEY
from tests import factories
from tests.consistency import test_create_then_use as create_then_use
from tests.consistency.support import GatewayPair
from tests.support.requirements import needs_redis_cluster
from tests.support.servers import GatewayProcess

pytestmark = needs_redis_cluster


@pytest.fixture(scope="module")
def cluster_gateways(django_db_setup, django_db_blocker, redis_cluster):
    gateways = [GatewayProcess(redis_url=redis_cluster.url).start() for _ in range(2)]
    yield gateways
    for gateway in gateways:
        gateway.stop()


@pytest.fixture
def cluster_settings(settings, redis_cluster):
    settings.REDIS_URL = redis_cluster.url  # this process publishes configuration changes there
    return settings


def test_every_key_a_tenant_writes_lies_in_its_one_slot(transactional_db, cluster_settings, cluster_gateways,
                                                        redis_cluster):  # fmt: skip
    tenant = factories.make_tenant()
    app = factories.make_app(tenant, is_default=True, slug=factories.unique("slot-"))
    app_update(app=app, actor=SYSTEM, data={"identity_header_mode": True})
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    factories.make_policy(
        tenant, tenant_wide=True, requests_per_minute=1000, max_concurrent_requests=50, tokens_per_minute=100_000,
        daily_token_budget=100_000, monthly_token_budget=1_000_000, user_requests_per_minute=1000,
        user_daily_token_budget=100_000,
    )  # fmt: skip
    _, secret = factories.make_key(factories.make_agent(tenant))
    body = {"model": "mock-1", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    for gateway in cluster_gateways:
        with httpx.Client(base_url=gateway.url, timeout=20) as client:
            for user in ("alice@example.com", "bob@example.com"):
                answer = client.post("/v1/chat/completions", json=body,
                                     headers={"X-API-Key": secret, "X-User-Email": user})  # fmt: skip
                assert answer.status_code == 200, answer.text
            # A refusal before authentication, counted against the tenant of the app's path.
            refused = client.post(f"/apps/{app.slug}/v1/chat/completions", json=body,
                                  headers={"X-API-Key": "aid_sk_" + "x" * 40})  # fmt: skip
            assert refused.status_code == 401

    held = redis_cluster.keys_by_master(f"*{tenant.id}*")
    keys = set().union(*held.values())
    kinds = {key.split("}:", 1)[1].split(":", 1)[0] for key in keys}
    assert {"rpm", "tpm", "budget", "urpm", "ua", "cfg"} <= kinds, keys
    assert {key_slot(key.encode()) for key in keys} == {key_slot(f"{{{tenant.id}}}".encode())}
    assert len([address for address, found in held.items() if found]) == 1


def test_a_gateway_on_the_cluster_is_ready(cluster_gateways):
    for gateway in cluster_gateways:
        response = httpx.get(gateway.url + "/readyz", timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["redis"] == "ok"


def test_platform_wide_keys_are_written_and_read_on_the_cluster(transactional_db, cluster_settings, redis_cluster):
    before = redis_cluster.client().get(APP_DIRECTORY_KEY)
    factories.make_app(factories.make_tenant())
    after = redis_cluster.client().get(APP_DIRECTORY_KEY)
    assert int(after or 0) == int(before or 0) + 1


@pytest.fixture
def cluster_pair(transactional_db, cluster_settings, cluster_gateways):
    tenant, _, org_secret = factories.make_tenant_with_org_key()
    pair = GatewayPair(cluster_gateways, org_secret, tenant.id)
    yield pair
    pair.close()


def test_a_new_agent_and_key_work_on_the_other_process_at_once(cluster_pair):
    create_then_use._world(cluster_pair)

    def cycle(via, order):
        agent = cluster_pair.create(via, "/v1/agents", {"name": factories.unique("agent-")})
        key = cluster_pair.create(via, f"/v1/agents/{agent['id']}/keys", {"name": "k"})
        return [cluster_pair.chat(on, headers={"X-API-Key": key["key"]}) for on in order]

    assert create_then_use._cycles(cluster_pair, cycle, cycles=20).wrong() == {}


def test_a_new_app_works_on_its_path_on_the_other_process_at_once(cluster_pair):
    world = create_then_use._world(cluster_pair)

    def cycle(via, order):
        slug = factories.unique("app-")
        app = cluster_pair.create(via, "/v1/apps", {"name": slug, "slug": slug})
        key = cluster_pair.create(via, f"/v1/agents/{world['agent_id']}/keys", {"name": "k", "app_id": app["id"]})
        path = f"/apps/{slug}/v1/chat/completions"
        return [cluster_pair.chat(on, path, headers={"X-API-Key": key["key"]}) for on in order]

    assert create_then_use._cycles(cluster_pair, cycle, cycles=20).wrong() == {}


def test_the_sign_in_throttle_counts_on_the_cluster(redis_cluster, settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 60
    cache = {"default": {"BACKEND": "core.cluster_cache.RedisClusterCache", "LOCATION": redis_cluster.url}}
    with override_settings(CACHES=cache):

        def slot(key: str) -> int:
            return key_slot(django_cache.make_key(key).encode())

        while True:  # a pair and an address in different slots: the many-key read crosses slots
            user = factories.unique("throttled-")
            limits = {f"aid:login-failures:pair:{user}": 2, f"aid:login-failures:address:{user}": 3}
            if len({slot(k) for k in limits}) == 2:
                break
        assert not login_failures_exceeded(limits)
        login_failure_count(limits)
        assert not login_failures_exceeded(limits)
        login_failure_count(limits)
        assert login_failures_exceeded(limits)  # the pair's count reached 2
        login_failures_forget(limits)
        assert not login_failures_exceeded(limits)  # 2 of the address's 3
