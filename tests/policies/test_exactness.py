"""Limits that hold exactly: across two gateway processes sharing Redis (one node, and a
three-master Redis Cluster), under concurrency, for streamed answers, and when Redis goes away
and comes back."""

from __future__ import annotations

import concurrent.futures
import subprocess
import time

import httpx
import pytest

from forensics.models import RequestLog
from tenants.models import Tenant
from tests import factories
from tests.support.live_fixtures import stream_then_drop, streamed_text
from tests.support.requirements import needs_redis_cluster
from tests.support.servers import GatewayProcess, chat_stream, free_port, redis_url_for_tests, wait_for_port

SLOW = {"X-Mock-Latency-Ms": "800"}


@pytest.fixture(params=["node", pytest.param("cluster", marks=needs_redis_cluster)])
def shared_redis(request, settings):
    """The machine's Redis, then the run's Redis Cluster (tests/support/redis_cluster.py)."""
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster").url
    elif (url := redis_url_for_tests()) is None:
        pytest.fail("these tests need Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    settings.REDIS_URL = url
    return url


@pytest.fixture
def two_gateways(transactional_db, shared_redis):
    gateways = [GatewayProcess(redis_url=shared_redis).start() for _ in range(2)]
    yield gateways
    for gateway in gateways:
        gateway.stop()


def tenant_with_key(**policy) -> tuple[Tenant, str]:
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"], extra_headers=SLOW)
    factories.make_policy(tenant, tenant_wide=True, **policy)
    _, secret = factories.make_key(factories.make_agent(tenant))
    return tenant, secret


def fire(gateways, secret: str, count: int, **body) -> list[int]:
    """``count`` requests at once, alternating between the gateway processes."""
    payload = {"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}], **body}

    def one(index: int) -> int:
        url = gateways[index % len(gateways)].url
        with httpx.Client(base_url=url, timeout=20) as client:
            return client.post("/v1/chat/completions", json=payload, headers={"X-API-Key": secret}).status_code

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def warm(gateways, secret: str) -> None:
    for gateway in gateways:
        assert httpx.get(gateway.url + "/v1/models", headers={"X-API-Key": secret}, timeout=10).status_code == 200


def test_requests_per_minute_admit_exactly_the_limit_across_processes(two_gateways):
    _, secret = tenant_with_key(requests_per_minute=9)
    warm(two_gateways, secret)  # two of the nine
    statuses = fire(two_gateways, secret, 20)
    assert statuses.count(200) == 7
    assert statuses.count(429) == 13


def test_concurrency_admits_exactly_the_limit_across_processes(two_gateways):
    _, secret = tenant_with_key(max_concurrent_requests=3)
    warm(two_gateways, secret)
    statuses = fire(two_gateways, secret, 10)
    assert statuses.count(200) == 3
    assert statuses.count(429) == 7


def test_the_token_budget_admits_exactly_what_it_covers_across_processes(two_gateways):
    # Each request reserves 1 prompt token + max_tokens 9 = 10 until its answer settles it.
    _, secret = tenant_with_key(daily_token_budget=50)
    warm(two_gateways, secret)
    statuses = fire(two_gateways, secret, 12, max_tokens=9)
    assert statuses.count(200) == 5
    assert statuses.count(429) == 7


def test_a_streamed_answer_consumes_the_budget(world):
    factories.make_policy(world.tenant, tenant_wide=True, daily_token_budget=10)
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {"stream": chat_stream("gpt-4o", ["a", "b"], (5, 3))}

    def stream() -> httpx.Response:
        with world.http(**{"X-API-Key": world.secret}) as client:
            return client.post("/v1/chat/completions", json={
                "model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Hi"}],
            })  # fmt: skip

    first, second, third = stream(), stream(), stream()
    assert (first.status_code, second.status_code) == (200, 200)  # 0 and 8 used: below 10
    assert third.status_code == 429  # 16 used
    assert third.json()["error"]["reason"] == "daily_tokens"
    record = RequestLog.objects.get(id=first.headers["x-request-id"])
    assert (record.prompt_tokens, record.completion_tokens) == (5, 3)


def test_a_stream_read_to_its_end_then_dropped_consumes_the_budget(world):
    # Streams whose client left before [DONE] used to be recorded with 0 tokens and their
    # reservation released, so any number of them passed a daily budget.
    factories.make_policy(world.tenant, tenant_wide=True, daily_token_budget=10)
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "stream": chat_stream("gpt-4o", ["a", "b"], (5, 3)), "end_delay": 3,
    }  # fmt: skip
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}

    for _ in range(2):  # 0, then 8 used: below 10, so admitted
        dropped = stream_then_drop(world, body, until=lambda chunks: bool(chunks[-1].get("usage")))
        record = RequestLog.objects.get(id=dropped.request_id)
        assert (record.status_code, record.error_reason) == (200, "client_disconnected")
        assert (record.prompt_tokens, record.completion_tokens) == (5, 3)  # the provider's usage
        assert record.cost_usd > 0

    with world.http(**{"X-API-Key": world.secret}) as client:
        refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429  # 16 used
    assert refused.json()["error"]["reason"] == "daily_tokens"


def test_a_stream_left_midway_counts_the_text_it_sent_against_tokens_per_minute(world):
    factories.make_policy(world.tenant, tenant_wide=True, tokens_per_minute=20)
    words = [" wxyz"] * 200  # and no usage: what was sent is estimated, as the reservation is
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "stream": chat_stream("gpt-4o", words, usage=None), "chunk_delay": 0.02,
    }  # fmt: skip
    body = {"model": "gpt-4o", "stream": True, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}

    # Reserves 1 + 5 = 6 tokens of the 20; leaves once 80 characters (20 tokens) have arrived.
    dropped = stream_then_drop(world, body, until=lambda chunks: len(streamed_text(chunks)) >= 80)

    record = RequestLog.objects.get(id=dropped.request_id)
    assert (record.status_code, record.error_reason) == (200, "client_disconnected")
    assert record.prompt_tokens == 1  # "Hi"
    assert len(dropped.text) / 4 <= record.completion_tokens < 250  # what was sent, not the whole answer
    assert record.cost_usd > 0
    with world.http(**{"X-API-Key": world.secret}) as client:
        refused = client.post("/v1/chat/completions", json={**body, "stream": False})
    assert refused.status_code == 429
    assert refused.json()["error"]["reason"] == "tokens_per_minute"


class RedisServer:
    """A Redis of the test's own, so that it can be stopped and started mid-test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def own_redis(settings):
    server = RedisServer().start()
    settings.REDIS_URL = server.url
    yield server
    server.stop()


def test_fail_modes_apply_while_redis_is_down_and_recovery_needs_no_restart(transactional_db, own_redis):
    _rate_only, rate_secret = tenant_with_key(requests_per_minute=1000)
    _budgeted, budget_secret = tenant_with_key(daily_token_budget=100_000)
    strict, strict_secret = tenant_with_key(requests_per_minute=1000)
    Tenant.objects.filter(pk=strict.pk).update(rate_limit_fail_mode="closed")
    strict.save(update_fields=["updated_at"])
    gateway = GatewayProcess(redis_url=own_redis.url, extra_env={"CONFIG_CACHE_SECONDS": "0.2"}).start()
    try:
        secrets = (rate_secret, budget_secret, strict_secret)
        for secret in secrets:
            warm([gateway], secret)

        own_redis.stop()
        with httpx.Client(base_url=gateway.url, timeout=20) as client:

            def ask(secret: str) -> httpx.Response:
                body = {"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]}
                return client.post("/v1/chat/completions", headers={"X-API-Key": secret}, json=body)

            admitted = ask(rate_secret)  # authentication from cache; rate limits fail open
            assert admitted.status_code == 200
            assert RequestLog.objects.get(id=admitted.headers["x-request-id"]).fail_open == ["rate_limits"]
            refused = ask(budget_secret)  # budgets fail closed by default
            assert (refused.status_code, refused.json()["error"]["reason"]) == (429, "limits_unavailable")
            closed = ask(strict_secret)  # a tenant that chose closed rate limits
            assert (closed.status_code, closed.json()["error"]["reason"]) == (429, "limits_unavailable")

            own_redis.start()  # the same port, empty: counters start afresh
            deadline = time.monotonic() + 10
            while (response := ask(budget_secret)).status_code != 200:
                assert time.monotonic() < deadline, "the gateway did not recover after Redis came back"
                time.sleep(0.2)
            assert RequestLog.objects.get(id=response.headers["x-request-id"]).fail_open == []
    finally:
        gateway.stop()
