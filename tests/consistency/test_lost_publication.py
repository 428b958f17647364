"""A change Redis never heard of, on two gateway processes: the database poll carries it.

While Redis answers, each poll reads the next ``CONFIG_POLL_SLICE`` cached tenants and every
tenant whose configuration changed in the last minute (by its change time), so such a change
arrives within one poll of ``CONFIG_POLL_SECONDS`` whatever the slice; while Redis is down,
every poll reads every cached tenant (docs/decisions.md).
"""

from __future__ import annotations

import math
import time
from collections import Counter

import httpx
import pytest

from core.actors import SYSTEM
from keys.models import Key
from keys.services import key_revoke
from tests import factories
from tests.consistency.support import answer_of
from tests.reliability.support import PrivateRedis
from tests.support.servers import GatewayProcess, free_port

TENANTS = 12
POLL_SECONDS = 0.25
SLICE = 1
# What the slices alone would take to read every cached tenant once.
SLICED_BOUND = math.ceil(TENANTS / SLICE) * POLL_SECONDS  # 3 s
# One poll and its margin (a snapshot's reload, the client's loop): well under SLICED_BOUND.
FULL_POLL_BOUND = 1.25


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def gateways(transactional_db, private_redis, settings):
    settings.REDIS_URL = private_redis.url  # this process publishes configuration changes there
    env = {"CONFIG_POLL_SECONDS": str(POLL_SECONDS), "CONFIG_POLL_SLICE": str(SLICE)}
    processes = [GatewayProcess(redis_url=private_redis.url, extra_env=env).start() for _ in range(2)]
    yield processes
    for process in processes:
        process.stop()


def tenant_with_key() -> tuple[str, str]:
    tenant = factories.make_tenant()
    factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    _, secret = factories.make_key(factories.make_agent(tenant))
    return tenant.id, secret


def models(gateway: GatewayProcess, secret: str) -> httpx.Response:
    return httpx.get(gateway.url + "/v1/models", headers={"X-API-Key": secret}, timeout=10)


def warm(gateways: list[GatewayProcess], secrets: list[str]) -> None:
    for gateway in gateways:
        for secret in secrets:
            assert models(gateway, secret).status_code == 200


def revoke_all(tenant_ids: list[str]) -> float:
    for key in Key.objects.filter(tenant_id__in=tenant_ids):
        key_revoke(key=key, actor=SYSTEM)
    return time.monotonic()


def answers_after(gateways: list[GatewayProcess], secrets: list[str], at: float) -> Counter:
    """What every process answers for every secret, asked from ``at`` on (a monotonic time)."""
    time.sleep(max(0.0, at - time.monotonic()))
    return Counter(answer_of(models(gateway, secret)) for gateway in gateways for secret in secrets)


def test_a_change_whose_publication_was_lost_reaches_both_processes_within_a_poll(gateways, settings):
    world = [tenant_with_key() for _ in range(TENANTS)]
    secrets = [secret for _, secret in world]
    warm(gateways, secrets)

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # the writer is cut off; the gateways are not
    revoked = revoke_all([tenant_id for tenant_id, _ in world])
    # The slices alone would take SLICED_BOUND (3 s); the change time brings it in one poll.
    answers = answers_after(gateways, secrets, revoked + FULL_POLL_BOUND)
    assert answers == {(401, "key_revoked"): 2 * TENANTS}


def test_with_redis_down_every_poll_reads_every_cached_tenant(gateways, private_redis):
    world = [tenant_with_key() for _ in range(TENANTS)]
    secrets = [secret for _, secret in world]
    warm(gateways, secrets)

    private_redis.stop()
    revoked = revoke_all([tenant_id for tenant_id, _ in world])  # nothing can be published
    # One slice a poll would take SLICED_BOUND (3 s) to read the twelve tenants.
    answers = answers_after(gateways, secrets, revoked + FULL_POLL_BOUND)
    assert answers == {(401, "key_revoked"): 2 * TENANTS}
