"""Redis stopped and restarted under traffic: authentication keeps working from the
configuration cache, limits follow each tenant's fail mode while Redis is away, and the
gateway recovers without a restart. (tests/policies/test_exactness.py checks the fail modes
request by request; here the outage happens while clients are sending.)"""

from __future__ import annotations

import time

import httpx
import pytest

from core.actors import SYSTEM
from forensics.models import RequestLog
from keys.models import Key
from keys.services import key_revoke
from tenants.models import Tenant
from tests import factories
from tests.reliability.support import Outcome, Traffic, chat_request
from tests.support.servers import GatewayProcess, free_port


def tenant_with_key(**policy) -> tuple[Tenant, str]:
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"], extra_headers={"X-Mock-Latency-Ms": "20"})
    factories.make_policy(tenant, tenant_wide=True, **policy)
    _, secret = factories.make_key(factories.make_agent(tenant))
    return tenant, secret


@pytest.fixture
def redis_world(transactional_db, private_redis, settings):
    settings.REDIS_URL = private_redis.url  # this process publishes configuration changes there
    gateway = GatewayProcess(redis_url=private_redis.url, extra_env={"CONFIG_CACHE_SECONDS": "0.2"}).start()
    yield gateway
    gateway.stop()


def warm(gateway: GatewayProcess, *secrets: str) -> None:
    for secret in secrets:
        response = httpx.get(gateway.url + "/v1/models", headers={"X-API-Key": secret}, timeout=10)
        assert response.status_code == 200


def between(outcomes: list[Outcome], label: str, start: float, end: float) -> list[Outcome]:
    return [o for o in outcomes if o.label == label and start <= o.at and o.ended <= end]


def test_it_keeps_serving_by_fail_mode_while_redis_restarts_under_traffic(redis_world, private_redis):
    _open, open_secret = tenant_with_key(requests_per_minute=100_000)  # rate limits fail open (default)
    budgeted, budget_secret = tenant_with_key(daily_token_budget=10**9)  # budgets fail closed (default)
    warm(redis_world, open_secret, budget_secret)

    def send(client: httpx.Client, index: int) -> Outcome:
        label, secret = ("open", open_secret) if index % 2 == 0 else ("budget", budget_secret)
        return chat_request(client, secret, stream=index % 4 == 1, label=label)

    with Traffic(send, url=redis_world.url, clients=6) as traffic:
        time.sleep(1.5)
        stopped = time.monotonic()
        private_redis.stop()
        time.sleep(2.5)
        restarted = time.monotonic()
        private_redis.start()  # the same port, empty
        deadline = restarted + 10
        while not between(traffic.snapshot(), "budget", restarted + 0.1, float("inf")) or any(
            o.status != 200 for o in between(traffic.snapshot(), "budget", time.monotonic() - 0.5, float("inf"))
        ):
            assert time.monotonic() < deadline, "the gateway did not recover after Redis came back"
            time.sleep(0.2)
        recovered = time.monotonic()
        time.sleep(1.0)
    outcomes = traffic.snapshot()

    assert {o.status for o in outcomes} <= {200, 429}, {(o.status, o.reason) for o in outcomes}
    assert all(o.ended - o.at < 5 for o in outcomes), "a request hung while Redis was away"
    before = [o for o in outcomes if o.ended < stopped]
    assert before
    assert all(o.status == 200 for o in before)
    # While Redis is away: authentication from cache, rate limits open, budgets closed.
    outage_open = between(outcomes, "open", stopped + 0.5, restarted)
    outage_budget = between(outcomes, "budget", stopped + 0.5, restarted)
    assert outage_open
    assert all(o.status == 200 for o in outage_open)
    assert outage_budget
    assert all((o.status, o.reason) == (429, "limits_unavailable") for o in outage_budget), [
        (o.status, o.reason, round(o.at - stopped, 2), round(o.ended - stopped, 2)) for o in outage_budget
    ]
    after = [o for o in outcomes if o.at > recovered]
    assert after
    assert all(o.status == 200 for o in after)
    # Every answer, refusals included, has exactly one record; fail-open admissions say so.
    records = {r.id: r for r in RequestLog.objects.filter(id__in=[o.request_id for o in outcomes])}
    assert len(records) == len(outcomes) == len({o.request_id for o in outcomes})
    assert all(records[o.request_id].fail_open == ["rate_limits"] for o in outage_open)
    assert all(records[o.request_id].fail_open == [] for o in after)
    assert RequestLog.objects.filter(tenant_id=budgeted.id, status_code=429).count() == sum(
        o.status == 429 for o in outcomes
    )


def test_it_applies_a_revocation_made_while_redis_was_away_once_redis_restarts(redis_world, private_redis):
    tenant, secret = tenant_with_key(requests_per_minute=100_000)
    key = Key.objects.get(tenant_id=tenant.id)
    warm(redis_world, secret)

    private_redis.stop()
    key_revoke(key=key, actor=SYSTEM)  # the change cannot be published: Redis is down
    assert httpx.get(redis_world.url + "/v1/models", headers={"X-API-Key": secret}, timeout=10).status_code == 200
    private_redis.start()
    restarted = time.monotonic()

    while (
        response := httpx.get(redis_world.url + "/v1/models", headers={"X-API-Key": secret}, timeout=10)
    ).status_code == 200:
        assert time.monotonic() - restarted < 2.0, "the revoked key still worked after Redis came back"
        time.sleep(0.05)
    assert (response.status_code, response.json()["error"]["reason"]) == (401, "key_revoked")


def test_it_applies_a_revocation_whose_publication_failed(redis_world, settings):
    tenant, secret = tenant_with_key(requests_per_minute=100_000)
    key = Key.objects.get(tenant_id=tenant.id)
    warm(redis_world, secret)

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # the revoking process is cut off from Redis
    key_revoke(key=key, actor=SYSTEM)
    revoked = time.monotonic()

    while (
        response := httpx.get(redis_world.url + "/v1/models", headers={"X-API-Key": secret}, timeout=10)
    ).status_code == 200:
        assert time.monotonic() - revoked < 3.0, "the revoked key still worked three seconds later"
        time.sleep(0.05)
    assert response.json()["error"]["reason"] == "key_revoked"
