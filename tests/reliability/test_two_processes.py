"""Two gateway processes sharing the database and a (private) Redis or a Redis Cluster, the
unit of horizontal scale: under mixed traffic spread over both, limits admit exactly, a revocation reaches both
within a second, and records are exact — one per answer, none extra, sums that add up, and a
chain that verifies. (tests/proxy/test_multi_process.py and tests/policies/test_exactness.py
check revocation and each limit on their own.)"""

from __future__ import annotations

import concurrent.futures
import itertools
import time

import httpx
import pytest

from core.actors import SYSTEM
from forensics.models import RequestLog
from forensics.sealing import audit_chain_verify, audit_seal_all
from keys.services import key_revoke
from tests import factories
from tests.support.requirements import needs_redis_cluster
from tests.support.servers import GatewayProcess

RPM = 40


@pytest.fixture(params=["node", pytest.param("cluster", marks=needs_redis_cluster)])
def two_gateways(request, transactional_db, settings):
    redis = request.getfixturevalue("private_redis" if request.param == "node" else "redis_cluster")
    settings.REDIS_URL = redis.url  # this process publishes configuration changes there
    gateways = [GatewayProcess(redis_url=redis.url).start() for _ in range(2)]
    yield gateways
    for gateway in gateways:
        gateway.stop()


def call(url: str, secret: str, kind: str) -> httpx.Response:
    headers = {"X-API-Key": secret}
    chat = {"model": "mock-1", "messages": [{"role": "user", "content": f"Hi {kind}"}]}
    with httpx.Client(base_url=url, headers=headers, timeout=20) as client:
        if kind == "models":
            return client.get("/v1/models")
        if kind == "embeddings":
            return client.post("/v1/embeddings", json={"model": "mock-embed", "input": ["a", "bb"]})
        if kind == "stream":
            with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as response:
                response.read()
                return response
        if kind == "forbidden":
            return client.post("/v1/chat/completions", json={**chat, "model": "gpt-4o"})
        return client.post("/v1/chat/completions", json=chat)


def test_it_keeps_limits_revocations_and_records_exact_across_two_processes(two_gateways):
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"], extra_headers={"X-Mock-Latency-Ms": "30"})
    factories.make_policy(tenant, tenant_wide=True, allowed_models=["mock-*"])
    agent = factories.make_agent(tenant)
    _, limited = factories.make_key(agent, rate_limit=RPM)
    revoked_key, doomed = factories.make_key(agent)
    _, free = factories.make_key(agent)
    kinds = ["chat", "stream", "models", "embeddings", "forbidden"]

    jobs = [(g.url, limited, "chat") for g in itertools.islice(itertools.cycle(two_gateways), 3 * RPM)]
    jobs += [(g.url, free, k) for g, k in zip(itertools.cycle(two_gateways), kinds * 24, strict=False)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda job: call(*job), jobs))
        # A revocation during traffic: both processes refuse the key within a second.
        still_valid = call(two_gateways[0].url, doomed, "chat")
        assert still_valid.status_code == 200
        key_revoke(key=revoked_key, actor=SYSTEM)
        revoked_at = time.monotonic()
        time.sleep(1.0)
        after = list(pool.map(lambda job: call(*job), [(g.url, doomed, "chat") for g in two_gateways * 5]))
    assert time.monotonic() - revoked_at < 3
    assert [(r.status_code, r.json()["error"]["reason"]) for r in after] == [(401, "key_revoked")] * 10

    limited_statuses = [r.status_code for r in responses[: 3 * RPM]]
    assert (limited_statuses.count(200), limited_statuses.count(429)) == (RPM, 2 * RPM)
    free_statuses = [r.status_code for r in responses[3 * RPM :]]
    assert free_statuses.count(403) == 24  # the forbidden model, refused by policy on either process
    assert free_statuses.count(200) == 4 * 24

    everything = [*responses, still_valid, *after]
    answered = [r.headers["x-request-id"] for r in everything]
    records = {r.id: r for r in RequestLog.objects.filter(tenant_id=tenant.id)}
    assert len(answered) == len(set(answered))
    assert sorted(records) == sorted(answered)
    for response in everything:
        record = records[response.headers["x-request-id"]]
        assert record.status_code == response.status_code
        usage = response.json().get("usage") if response.headers["content-type"] == "application/json" else None
        if usage:  # what the client was told is what the record says
            assert (record.prompt_tokens, record.completion_tokens) == (
                usage["prompt_tokens"], usage.get("completion_tokens", 0),
            )  # fmt: skip

    audit_seal_all()
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert verdict.valid, verdict
    assert verdict.checked == RequestLog.objects.filter(tenant_id=tenant.id).count()
