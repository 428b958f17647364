"""A gateway worker killed with SIGKILL under load, in the production serving shape (gunicorn
with two uvicorn workers, each sealing audit chains in-process): every response that reached
a client whole has exactly one record, the chain stays valid, and gunicorn replaces the worker.

"Whole" is a JSON body or a stream ending in ``[DONE]``: the gateway commits a record before
it sends either, so a request cut off by the kill has no such answer, and may or may not have
its record depending on how far it got."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from forensics.models import RequestLog
from forensics.sealing import audit_chain_verify, audit_seal_all
from tests import factories
from tests.reliability.support import Gunicorn, Outcome, Traffic, chat_request
from tests.support.servers import database_url_of_test_db


@pytest.fixture
def gunicorn(transactional_db):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="true",
        DATABASE_URL=database_url_of_test_db(),
        CONFIG_CACHE_SECONDS="0.5",
        # Both workers seal while they serve, so a kill can land in the middle of a seal too.
        AUDIT_SEAL_IN_PROCESS="true",
        AUDIT_SEAL_INTERVAL_SECONDS="1.0",
        LOG_LEVEL="WARNING",
    )
    server = Gunicorn(workers=2, env=env).start()
    yield server
    server.stop()


def warm_up(server: Gunicorn, secret: str) -> None:
    """Enough fresh connections that both workers have loaded the tenant's configuration."""
    for _ in range(12):
        # A generous timeout: a worker's first request loads the tenant, slow on a loaded host.
        response = httpx.get(
            server.url + "/v1/models", headers={"X-API-Key": secret, "Connection": "close"}, timeout=30
        )
        assert response.status_code == 200


def wait_for_replacement(server: Gunicorn, killed: int) -> list[int]:
    deadline = time.monotonic() + 15
    while True:
        pids = server.worker_pids()
        if len(pids) == server.workers and killed not in pids:
            return pids
        assert time.monotonic() < deadline, f"gunicorn did not replace worker {killed}: {pids}"
        time.sleep(0.1)


def test_it_keeps_one_record_per_answer_and_a_valid_chain_when_a_worker_is_killed(gunicorn):
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"], extra_headers={"X-Mock-Latency-Ms": "80"})
    _, secret = factories.make_key(factories.make_agent(tenant))

    def send(client: httpx.Client, index: int) -> Outcome:
        return chat_request(client, secret, stream=index % 2 == 0)

    warm_up(gunicorn, secret)
    killed: list[int] = []
    with Traffic(send, url=gunicorn.url, clients=8) as traffic:
        for _ in range(2):  # one worker, then the other or the first one's replacement
            time.sleep(1.5)
            victim = gunicorn.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            wait_for_replacement(gunicorn, victim)
        time.sleep(2.0)
    outcomes = traffic.snapshot()

    whole = [o for o in outcomes if o.status == 200 and o.stream_done is not False]
    cut = [o for o in outcomes if o not in whole]
    assert {o.status for o in outcomes} <= {0, 200}, {(o.status, o.reason) for o in outcomes}
    assert len(whole) > 20
    assert len(cut) <= 2 * 8  # at most the requests in flight on a killed worker
    last = max(o.at for o in outcomes)
    assert any(o in whole for o in outcomes if o.at > last - 1.0), "no answers after the kills"
    assert not set(killed) & set(gunicorn.worker_pids())

    records = RequestLog.objects.filter(tenant_id=tenant.id)
    counts: dict[str, int] = {}
    for record_id in records.values_list("id", flat=True):
        counts[record_id] = counts.get(record_id, 0) + 1
    assert all(counts.get(o.request_id) == 1 for o in whole)
    # Other records: the warm-up, and requests cut off after their record was committed (the
    # worker killed before their answer's headers went out, so matched by the client's own id).
    others = set(RequestLog.objects.filter(tenant_id=tenant.id, endpoint="models").values_list("id", flat=True))
    extra = set(counts) - {o.request_id for o in whole} - others
    cut_by_client_id = dict(
        RequestLog.objects.filter(
            tenant_id=tenant.id, client_request_id__in=[o.client_request_id for o in cut]
        ).values_list("id", "client_request_id")
    )
    assert extra <= set(cut_by_client_id), extra - set(cut_by_client_id)

    gunicorn.stop()  # no sealer left running while the test seals and verifies
    audit_seal_all()
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert verdict.valid, verdict
    assert verdict.checked == records.count()
