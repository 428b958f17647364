"""``GET /metrics`` (SPEC 8) of real gateway processes on PostgreSQL and Redis: gunicorn with
two uvicorn workers whose counts are summed, and equal to the forensic records they wrote."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from django.db.models import Sum
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from forensics.models import RequestLog
from forensics.sealing import audit_seal_all
from proxy.metrics import (
    LATENCY_BUCKETS,
    OTHER_TENANTS,
    REGISTRY,
    TenantLabels,
    _Timings,
    metrics_flush,
    request_count,
)
from proxy.request_context import RequestContext
from tests import factories
from tests.reliability.support import Gunicorn
from tests.support.servers import GatewayProcess, database_url_of_test_db, redis_url_for_tests

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def shared_redis(settings):
    url = redis_url_for_tests()
    if url is None:
        pytest.fail("these tests need Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    settings.REDIS_URL = url
    return url


def gateway_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="true",
        DATABASE_URL=database_url_of_test_db(),
        REDIS_URL=redis_url,
        CONFIG_CACHE_SECONDS="0.5",
        AUDIT_SEAL_IN_PROCESS="false",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


@pytest.fixture
def gunicorn(transactional_db, shared_redis, tmp_path):
    """Two workers writing into a metrics directory the test can look into."""
    metrics_dir = tmp_path / "metrics"
    server = Gunicorn(workers=2, env=gateway_env(shared_redis, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))).start()
    yield server, metrics_dir
    server.stop()


@pytest.fixture
def tenant_secret(transactional_db):
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    _, secret = factories.make_key(factories.make_agent(tenant))
    return tenant.id, secret


def scrape(server: Gunicorn) -> httpx.Response:
    # A worker's first request builds its runtime; on a busy 2-core host that takes seconds.
    return httpx.get(server.url + "/metrics", timeout=30)


def samples(text: str) -> list:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def requests_by_labels(text: str, tenant_id: str) -> Counter:
    counted = Counter()
    for sample in samples(text):
        if sample.name == "aidgate_requests_total" and sample.labels["tenant"] == tenant_id:
            labels = sample.labels
            counted[(labels["endpoint"], int(labels["status"]), labels["reason"])] += int(sample.value)
    return counted


def value_of(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value for s in samples(text) if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def records_by_labels(tenant_id: str) -> Counter:
    rows = RequestLog.objects.filter(tenant_id=tenant_id).values_list("endpoint", "status_code", "error_reason")
    return Counter((endpoint, status, reason or "ok") for endpoint, status, reason in rows)


def load(url: str, secret: str, *, clients: int = 6, each: int = 6) -> None:
    """A known mix: plain and streamed answers, a model nobody serves, malformed JSON."""

    def client_run(index: int) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": secret}, timeout=20) as client:
            for n in range(each):
                body = {"model": "mock-1", "messages": [{"role": "user", "content": f"Hi {index} {n}"}]}
                if n % 3 == 1:
                    body["stream"] = True
                    with client.stream("POST", "/v1/chat/completions", json=body) as response:
                        assert response.status_code == 200
                        response.read()
                elif n == 2:
                    assert client.post("/v1/chat/completions", json={**body, "model": "nope-9"}).status_code == 404
                elif n == 5:
                    response = client.post("/v1/chat/completions", content=b"{not json")
                    assert response.status_code == 400
                else:
                    assert client.post("/v1/chat/completions", json=body).status_code == 200

    threads = [threading.Thread(target=client_run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def flushed(server: Gunicorn, tenant_id: str) -> str:
    """A scrape once it counts every record: a process writes its counts out every second."""
    expected = records_by_labels(tenant_id)
    deadline = time.monotonic() + 10
    while (text := scrape(server).text) and requests_by_labels(text, tenant_id) != expected:
        assert time.monotonic() < deadline, (requests_by_labels(text, tenant_id), expected)
        time.sleep(0.2)
    return text


def pids_with(metrics_dir: Path, prefix: str) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob(f"{prefix}_*.db")}


def loaded_on_both_workers(server: Gunicorn, metrics_dir: Path, secret: str) -> None:
    load(server.url, secret)
    for _ in range(20):  # the kernel chooses the worker of each connection: make sure both served
        if set(server.worker_pids()) <= pids_with(metrics_dir, "counter"):
            return
        load(server.url, secret, clients=4, each=3)
    raise AssertionError("one worker served every request")


def test_it_counts_exactly_what_the_records_say_summed_over_two_workers(gunicorn, tenant_secret):
    server, metrics_dir = gunicorn
    tenant_id, secret = tenant_secret
    loaded_on_both_workers(server, metrics_dir, secret)

    response = scrape(server)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = flushed(server, tenant_id)
    expected = records_by_labels(tenant_id)
    assert expected[("chat", 404, "model_not_found")] > 0
    assert expected[("chat", 400, "invalid_request")] > 0
    assert requests_by_labels(text, tenant_id) == expected
    totals = RequestLog.objects.filter(tenant_id=tenant_id).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), cost=Sum("cost_usd")
    )
    assert value_of(text, "aidgate_tokens_total", tenant=tenant_id, kind="prompt") == totals["prompt"] > 0
    assert value_of(text, "aidgate_tokens_total", tenant=tenant_id, kind="completion") == totals["completion"] > 0
    assert value_of(text, "aidgate_cost_usd_total", tenant=tenant_id) == pytest.approx(float(totals["cost"]), abs=1e-6)
    # The latency histograms are by endpoint; this gunicorn served this tenant only.
    assert value_of(text, "aidgate_request_duration_seconds_count", endpoint="chat") == sum(expected.values())
    answered = RequestLog.objects.filter(tenant_id=tenant_id, upstream_latency_ms__isnull=False).count()
    assert value_of(text, "aidgate_upstream_duration_seconds_count", endpoint="chat") == answered
    assert value_of(text, "aidgate_record_writer_queue") == 0
    # Whichever worker answers the scrape, it is the same sum.
    for _ in range(4):
        assert requests_by_labels(scrape(server).text, tenant_id) == expected


def test_it_reports_the_age_of_the_last_seal(gunicorn, tenant_secret):
    server, _ = gunicorn
    _, secret = tenant_secret
    assert "aidgate_audit_seconds_since_last_seal" not in scrape(server).text
    load(server.url, secret, clients=1, each=1)
    assert audit_seal_all() == 1
    age = value_of(scrape(server).text, "aidgate_audit_seconds_since_last_seal")
    assert 0 <= age < 30


def test_it_drops_a_dead_workers_gauges_and_keeps_its_counts(gunicorn, tenant_secret):
    server, metrics_dir = gunicorn
    tenant_id, secret = tenant_secret
    loaded_on_both_workers(server, metrics_dir, secret)
    flushed(server, tenant_id)  # what the victim counted is written out
    victim = server.worker_pids()[0]
    assert victim in pids_with(metrics_dir, "gauge_livesum")
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in server.worker_pids() or len(server.worker_pids()) < 2:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while victim in pids_with(metrics_dir, "gauge_livesum"):
        assert time.monotonic() < deadline, "the dead worker's live gauge file is still there"
        time.sleep(0.1)
    assert victim in pids_with(metrics_dir, "counter")
    text = scrape(server).text
    assert requests_by_labels(text, tenant_id) == records_by_labels(tenant_id)


@pytest.fixture
def bounded_gunicorn(transactional_db, shared_redis, tmp_path):
    """Two workers that give one tenant each a label of its own."""
    env = gateway_env(shared_redis, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"), METRICS_MAX_TENANTS="1")
    server = Gunicorn(workers=2, env=env).start()
    yield server
    server.stop()


def test_it_counts_tenants_past_the_bound_as_other_and_loses_no_request(bounded_gunicorn):
    """10,000 tenants must not mean 10,000 label sets per process: past METRICS_MAX_TENANTS a
    process counts a tenant as ``_other``. Every request is still counted exactly once."""
    tenants = []
    for n in range(3):
        tenant = factories.make_tenant(f"Metrics Org {n}")
        factories.make_app(tenant, is_default=True)
        factories.make_provider(tenant, kind="mock", models=["mock-*"])
        _, secret = factories.make_key(factories.make_agent(tenant))
        tenants.append(tenant.id)
        load(bounded_gunicorn.url, secret, clients=3, each=6)

    total = RequestLog.objects.filter(tenant_id__in=tenants).count()
    deadline = time.monotonic() + 15
    while True:
        counted = Counter()
        for sample in samples(scrape(bounded_gunicorn).text):
            if sample.name == "aidgate_requests_total":
                counted[sample.labels["tenant"]] += int(sample.value)
        if sum(counted.values()) == total:
            break
        assert time.monotonic() < deadline, (counted, total)
        time.sleep(0.2)
    named = set(counted) - {OTHER_TENANTS}
    assert named <= set(tenants)
    assert 1 <= len(named) <= 2  # one a worker, at most
    assert counted[OTHER_TENANTS] > 0
    for tenant_id in named:  # a labelled tenant's count is never larger than its records
        assert counted[tenant_id] <= RequestLog.objects.filter(tenant_id=tenant_id).count()


def test_a_tenant_keeps_its_label_for_the_life_of_the_process():
    labels = TenantLabels(limit=2)
    assert [labels.label(t) for t in ("a", "b", "c", "a", "d", "b", None)] == [
        "a",
        "b",
        OTHER_TENANTS,
        "a",
        OTHER_TENANTS,
        "b",
        "",
    ]
    assert TenantLabels(limit=0).label("a") == OTHER_TENANTS


@pytest.fixture
def guarded_gateway(transactional_db, shared_redis):
    process = GatewayProcess(redis_url=shared_redis, extra_env={"METRICS_TOKEN": TOKEN}).start()
    yield process
    process.stop()


def test_it_answers_only_the_metrics_token_when_one_is_set(guarded_gateway):
    url = guarded_gateway.url + "/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"X-API-Key": TOKEN}):
        refused = httpx.get(url, headers=headers, timeout=10)
        assert refused.status_code == 401, headers
        error = refused.json()["error"]
        assert (error["code"], error["reason"], error["type"]) == (
            "unauthorized", "invalid_metrics_token", "authentication_error",
        )  # fmt: skip
        assert error["request_id"] == refused.headers["x-request-id"]
        assert TOKEN not in refused.text
    allowed = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert allowed.status_code == 200
    assert "aidgate_record_writer_queue" in allowed.text


def test_it_is_open_without_a_token_and_answers_only_get(gunicorn):
    server, _ = gunicorn
    assert scrape(server).status_code == 200
    refused = httpx.post(server.url + "/metrics", timeout=10)
    assert refused.status_code == 405
    assert refused.json()["error"]["reason"] == "method_not_allowed"


def test_it_writes_a_histogram_as_prometheus_client_itself_would():
    """The once-a-second write goes through a histogram child's bucket and sum values: each
    observation must land in the bucket observe() puts it in, bounds included ("le")."""
    registry = CollectorRegistry()
    ours = Histogram("ours", "deferred", buckets=LATENCY_BUCKETS, registry=registry)
    theirs = Histogram("theirs", "observed", buckets=LATENCY_BUCKETS, registry=registry)
    timings = _Timings(ours)
    for seconds in (0.0, 0.005, 0.0050001, 0.01, 0.3, 1.0, 299.99, 300.0, 300.01, 5000.0):
        timings.add(seconds)
        theirs.observe(seconds)
    timings.flush()
    timings.flush()  # nothing new: writes nothing more

    def by_suffix(name: str) -> dict:
        family = next(f for f in registry.collect() if f.name == name)
        return {(s.name.removeprefix(name), tuple(sorted(s.labels.items()))): s.value for s in family.samples
                if not s.name.endswith("_created")}  # fmt: skip

    assert by_suffix("ours") == by_suffix("theirs")


def test_it_counts_a_request_without_a_price_as_unpriced_not_as_free():
    """A model without a price records a null cost (providers.pricing): the cost counter
    leaves it out, and the unpriced counter says how many such requests there were."""
    tenant = f"tn_unpriced_{time.monotonic_ns()}"
    for cost in (None, None, 0.25):
        ctx = RequestContext("POST", "/v1/chat/completions", "chat", None, {}, {}, None)
        ctx.tenant_id, ctx.status_code, ctx.cost_usd = tenant, 200, cost
        request_count(ctx)
    metrics_flush()

    assert REGISTRY.get_sample_value("aidgate_unpriced_requests_total", {"tenant": tenant, "endpoint": "chat"}) == 2
    assert REGISTRY.get_sample_value("aidgate_cost_usd_total", {"tenant": tenant, "endpoint": "chat"}) == 0.25
