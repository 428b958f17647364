"""A client without a credential cannot fill a tenant's forensic log through its app's path:
its refusals are recorded up to a budget per client address and app a minute, across every
gateway process, and the rest are answered the same but only counted."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from forensics.models import RequestLog
from proxy.unauthenticated_records import dropped_key
from tests import factories
from tests.support.servers import GatewayProcess, redis_url_for_tests

PER_MINUTE = 5


@pytest.fixture
def two_gateways(transactional_db, settings):
    url = redis_url_for_tests()
    if url is None:
        pytest.fail("this test needs Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    settings.REDIS_URL = url
    env = {"UNAUTHENTICATED_RECORDS_PER_MINUTE": str(PER_MINUTE)}
    gateways = [GatewayProcess(redis_url=url, extra_env=env).start() for _ in range(2)]
    yield gateways, redis.Redis.from_url(url)
    for gateway in gateways:
        gateway.stop()


def away_from_a_minute_boundary() -> None:
    while time.time() % 60 > 45:
        time.sleep(0.5)


def refusals(url: str, slug: str, count: int, *, source: str = "127.0.0.1") -> list[httpx.Response]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=url, transport=transport, timeout=10) as client:
        return [
            client.post(f"/apps/{slug}/v1/chat/completions", headers={"X-API-Key": "aid_sk_" + "x" * 40},
                        json={"model": "mock-1", "messages": [{"role": "user", "content": "spam"}]})
            for _ in range(count)
        ]  # fmt: skip


def test_it_records_unauthenticated_refusals_up_to_a_budget_per_client_and_app_across_processes(two_gateways):
    gateways, shared = two_gateways
    tenant = factories.make_tenant()
    app = factories.make_app(tenant, slug=factories.unique("target-"))
    away_from_a_minute_boundary()

    answers = refusals(gateways[0].url, app.slug, 8) + refusals(gateways[1].url, app.slug, 8)
    assert {(r.status_code, r.json()["error"]["reason"]) for r in answers} == {(401, "invalid_key")}
    assert all(r.headers.get("x-request-id") for r in answers)
    assert RequestLog.objects.filter(tenant_id=tenant.id).count() == PER_MINUTE
    assert int(shared.get(dropped_key(tenant.id))) == 16 - PER_MINUTE

    # Another client address has a budget of its own.
    refusals(gateways[1].url, app.slug, 3, source="127.0.0.2")
    assert RequestLog.objects.filter(tenant_id=tenant.id, client_ip="127.0.0.2").count() == 3


def test_it_still_records_every_refusal_of_a_real_credential(two_gateways):
    gateways, _ = two_gateways
    tenant = factories.make_tenant()
    app = factories.make_app(tenant, slug=factories.unique("keyed-"))
    agent = factories.make_agent(tenant)
    _, secret = factories.make_key(agent, app=app)
    away_from_a_minute_boundary()
    body = {"model": "nothing-serves-this", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=gateways[0].url, timeout=10) as client:
        for _ in range(PER_MINUTE + 4):  # no provider: each is a 404 model_not_found of a known key
            client.post(f"/apps/{app.slug}/v1/chat/completions", headers={"X-API-Key": secret}, json=body)
    assert RequestLog.objects.filter(tenant_id=tenant.id, key_id__isnull=False).count() == PER_MINUTE + 4


def test_it_gives_an_ipv6_host_one_budget_for_its_whole_64():
    from proxy.unauthenticated_records import client_of

    assert client_of("2001:db8::1") == client_of("2001:db8::ffff:2") == "2001:db8::/64"
    assert client_of("2001:db8:0:1::1") != client_of("2001:db8::1")
    assert client_of("::ffff:192.0.2.7") == client_of("192.0.2.7") == "192.0.2.7"
    assert client_of(None) == "-"
