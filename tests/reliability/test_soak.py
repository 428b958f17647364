"""Soak: many concurrent clients through mixed endpoints and streams for a while, loopback
only. Zero 5xx, a record for every response, and the gateway's memory flat after warm-up.

``SOAK_SECONDS`` (default 60, as in CI) and ``SOAK_CLIENTS`` (default 200) bound it; run it
shorter locally with e.g. ``SOAK_SECONDS=15``."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import aiohttp
import pytest

from forensics.models import RequestLog
from tests import factories
from tests.reliability.support import rss_kib
from tests.support.servers import GatewayProcess

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
SOAK_CLIENTS = int(os.environ.get("SOAK_CLIENTS", "200"))
WARM_UP_SECONDS = max(5.0, SOAK_SECONDS / 4)
CHAT = {"messages": [{"role": "user", "content": "Soak test: say something"}]}
MIX = [
    ("POST", "/v1/chat/completions", {**CHAT, "model": "mock-1"}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "mock-1", "stream": True}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "gpt-4o-mini"}),
    ("GET", "/v1/models", None),
    ("POST", "/v1/embeddings", {"model": "mock-embed", "input": ["soak", "test"]}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "gpt-4o-mini", "stream": True}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "mock-1"}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "forbidden-model"}),  # a recorded 403
]


@pytest.fixture
def soak_gateway(transactional_db, healthy_upstream):
    gateway = GatewayProcess(redis_url=None).start()
    yield gateway
    gateway.stop()


async def soak(url: str, secret: str, pid: int) -> tuple[Counter, list[str], list[str], list[tuple[float, int]]]:
    statuses: Counter = Counter()
    request_ids: list[str] = []
    failures: list[str] = []
    memory: list[tuple[float, int]] = []
    started = time.monotonic()
    end = started + SOAK_SECONDS
    headers = {"X-API-Key": secret}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=SOAK_CLIENTS)

    async def client(index: int, session: aiohttp.ClientSession) -> None:
        turn = index
        while time.monotonic() < end:
            method, path, body = MIX[turn % len(MIX)]
            turn += 1
            try:
                async with session.request(method, url + path, json=body, headers=headers) as response:
                    payload = await response.read()
                    statuses[response.status] += 1
                    request_ids.append(response.headers["X-Request-ID"])
                    if body and body.get("stream") and response.status == 200:
                        assert payload.endswith(b"data: [DONE]\n\n"), payload[-200:]
            except (aiohttp.ClientError, TimeoutError, AssertionError) as exc:
                failures.append(f"{path}: {type(exc).__name__}: {exc}"[:300])

    async def sample_memory() -> None:
        while time.monotonic() < end:
            memory.append((time.monotonic() - started, rss_kib(pid)))
            await asyncio.sleep(1.0)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(sample_memory(), *(client(i, session) for i in range(SOAK_CLIENTS)))
    return statuses, request_ids, failures, memory


def test_it_soaks_mixed_traffic_without_5xx_lost_records_or_growing_memory(soak_gateway, healthy_upstream):
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    factories.make_provider(tenant, kind="openai", base_url=healthy_upstream.url + "/v1", models=["gpt-4o-mini"])
    factories.make_policy(tenant, tenant_wide=True, allowed_models=["mock-*", "gpt-4o-mini"])
    _, secret = factories.make_key(factories.make_agent(tenant))

    statuses, request_ids, failures, memory = asyncio.run(soak(soak_gateway.url, secret, soak_gateway.process.pid))

    assert not failures, failures[:10]
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) == {200, 403}, statuses
    assert sum(statuses.values()) > SOAK_CLIENTS
    assert len(set(request_ids)) == len(request_ids)
    assert RequestLog.objects.filter(tenant_id=tenant.id).count() == len(request_ids)
    warm = [rss for at, rss in memory if at >= WARM_UP_SECONDS]
    assert warm, memory
    assert max(warm) < 1.5 * warm[0], f"gateway memory grew from {warm[0]} KiB to {max(warm)} KiB: {memory}"
