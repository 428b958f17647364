"""PostgreSQL restarted under traffic, on a private cluster: requests either succeed with
their records committed once the database is back (the record writer waits out a restart,
bounded) or are refused cleanly; never a response without its record, never a record twice."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.reliability.support import Outcome, PrivateCluster, Traffic, chat_request, manage, seed_tenant
from tests.support.servers import GatewayProcess

# The record writer's retry delays add up to 7.75 s (forensics/recorder.py).
RECORD_WAIT_SECONDS = 8.0


@pytest.fixture(scope="module")
def cluster():
    cluster = PrivateCluster().create()
    manage(cluster.url, "migrate", "--noinput")
    yield cluster
    cluster.destroy()


@pytest.fixture
def seeded(cluster):
    tenant = seed_tenant(cluster.url)
    gateway = GatewayProcess(redis_url=None, extra_env={"DATABASE_URL": cluster.url}).start()
    # Warm the configuration cache: while the database is away, authentication comes from it.
    warm = httpx.get(gateway.url + "/v1/models", headers={"X-API-Key": tenant["secret"]}, timeout=10)
    assert warm.status_code == 200
    tenant["warm_request_id"] = warm.headers["x-request-id"]
    yield tenant, gateway
    gateway.stop()


def records_by_id(cluster: PrivateCluster, tenant_id: str) -> dict[str, int]:
    rows = cluster.query("select id, count(*) from forensics_requestlog where tenant_id = %s group by id", tenant_id)
    return dict(rows)


def assert_every_answer_has_one_record(cluster: PrivateCluster, tenant: dict, outcomes: list[Outcome]) -> None:
    answered = [o for o in outcomes if o.status]
    records = records_by_id(cluster, tenant["tenant_id"])
    assert all(count == 1 for count in records.values())
    missing = [o for o in answered if o.request_id not in records]
    assert not missing, f"{len(missing)} responses without a record, e.g. {missing[:3]}"
    # Each request id once among the responses, and no record of a request nobody sent.
    assert len({o.request_id for o in answered}) == len(answered)
    assert set(records) - {o.request_id for o in answered} <= {tenant["warm_request_id"]}


def test_it_waits_out_a_postgres_restart_and_records_every_answer_once(cluster, seeded):
    tenant, gateway = seeded

    def send(client: httpx.Client, index: int) -> Outcome:
        return chat_request(client, tenant["secret"], stream=index % 3 == 0)

    with Traffic(send, url=gateway.url, clients=6) as traffic:
        time.sleep(1.5)
        cluster.stop()
        time.sleep(2.0)
        cluster.start()
        restarted = time.monotonic()
        time.sleep(2.0)
    outcomes = traffic.snapshot()

    assert all(o.status == 200 for o in outcomes), {(o.status, o.reason) for o in outcomes}
    assert all(o.stream_done for o in outcomes if o.stream_done is not None)
    waited = [o for o in outcomes if o.at < restarted and o.ended > restarted]
    assert waited, "no request waited for the database"
    assert all(o.ended - o.at < RECORD_WAIT_SECONDS + 2 for o in outcomes)
    assert_every_answer_has_one_record(cluster, tenant, outcomes)


def test_it_refuses_cleanly_rather_than_answer_without_a_record_in_a_long_outage(cluster, seeded):
    tenant, gateway = seeded

    def send(client: httpx.Client, index: int) -> Outcome:
        return chat_request(client, tenant["secret"], stream=index % 2 == 0)

    with Traffic(send, url=gateway.url, clients=2) as traffic:
        time.sleep(0.5)
        cluster.stop()
        try:
            time.sleep(RECORD_WAIT_SECONDS + 1)  # past the writer's retries
        finally:
            cluster.start()
    outcomes = traffic.snapshot()

    assert all(o.status != 0 for o in outcomes)
    # A refusal is fine; a 200 (or a stream ended with [DONE]) must have its record.
    assert_every_answer_has_one_record(
        cluster, tenant, [o for o in outcomes if o.status == 200 and o.stream_done is not False]
    )
