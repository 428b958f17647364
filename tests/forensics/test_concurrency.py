"""Concurrency (SPEC 6: one record per request, one chain): 200 parallel requests through the live
gateway leave 200 records, and two sealers racing over them build one chain 1..200 without gaps
or forks."""

from __future__ import annotations

import asyncio
import threading

import httpx
from django.db import connection

from forensics.models import AuditChainHead, AuditCheckpoint, RequestLog
from forensics.sealing import tenant_chain_seal
from tests import factories
from tests.support.live_fixtures import chat

PARALLEL = 200


async def burst(url: str, secret: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=PARALLEL, max_keepalive_connections=PARALLEL)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": secret}, limits=limits, timeout=30) as client:
        return await asyncio.gather(
            *(client.post("/v1/chat/completions", json=chat("mock-1")) for _ in range(PARALLEL))
        )


def race_sealers(tenant_id: str, count: int = 2) -> list[int]:
    """Sealers in threads, released together, each sealing small batches until none is left."""
    barrier = threading.Barrier(count)
    sealed: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(5)
            total = 0
            while batch := tenant_chain_seal(tenant_id=tenant_id, batch=7):
                total += batch
            sealed.append(total)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return sealed


def test_it_records_200_parallel_requests_and_seals_them_into_one_chain(server_sessions_ended, world):
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    _, org_secret = factories.make_org_key(world.tenant, role="viewer")

    responses = asyncio.run(burst(world.gateway.url, world.secret))

    assert [r.status_code for r in responses] == [200] * PARALLEL
    request_ids = {r.headers["x-request-id"] for r in responses}
    assert len(request_ids) == PARALLEL
    assert set(RequestLog.objects.filter(tenant_id=world.tenant.id).values_list("id", flat=True)) == request_ids

    assert sum(race_sealers(world.tenant.id)) == PARALLEL

    chain = list(RequestLog.objects.filter(tenant_id=world.tenant.id).order_by("seq").values("seq", "prev_hash",
                                                                                             "chain_hash"))  # fmt: skip
    assert [link["seq"] for link in chain] == list(range(1, PARALLEL + 1))
    # No fork: each record links to the one before it, and nothing else does.
    assert [link["prev_hash"] for link in chain[1:]] == [link["chain_hash"] for link in chain[:-1]]
    assert chain[0]["prev_hash"] == "0" * 64
    head = AuditChainHead.objects.get(tenant_id=world.tenant.id)
    assert (head.last_seq, head.last_hash) == (PARALLEL, chain[-1]["chain_hash"])
    checkpoints = list(AuditCheckpoint.objects.filter(tenant_id=world.tenant.id).values_list("seq", "records"))
    assert sum(records for _, records in checkpoints) == PARALLEL
    assert len({seq for seq, _ in checkpoints}) == len(checkpoints)

    with httpx.Client(base_url=world.gateway.url, headers={"Authorization": f"Bearer {org_secret}"}) as api:
        verdict = api.get("/v1/audit/verify").json()
    assert (verdict["valid"], verdict["checked"], verdict["first_invalid"]) == (True, PARALLEL, None)
    assert verdict["checkpoint"]["seq"] == PARALLEL
