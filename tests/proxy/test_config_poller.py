"""The database fallback of configuration changes (ConfigVersionPoller), on the real cache, the
test database and Redis: while Redis answers, each poll reads the next slice of the cached
tenants, so that every one is read within ceil(cached / slice) polls whatever order they are
used in; while Redis does not (or without Redis), every poll reads every cached tenant."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from proxy.config_cache import ConfigCache, ConfigVersionPoller, DatabaseRunner, GenerationSource
from tenants.models import Tenant
from tests import factories
from tests.reliability.support import PrivateRedis
from tests.support.servers import free_port, redis_url_for_tests

TENANTS = 7
SLICE = 3


@pytest.fixture
def redis_url() -> str:
    url = redis_url_for_tests()
    if url is None:
        pytest.fail("these tests need Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    return url


@pytest.fixture
def tenant_ids(transactional_db) -> list[str]:
    return [factories.make_tenant().id for _ in range(TENANTS)]


def lose_publications(tenant_ids: list[str]) -> None:
    """A change of each tenant that Redis never hears of, and whose change time is too old for
    the poll's look-back (a transaction that committed long after its statement): the version
    moves, the generation not (a queryset update sends no signal, so nothing is published)."""
    Tenant.objects.filter(pk__in=tenant_ids).update(
        config_version=F("config_version") + 1, config_changed_at=Now() - timedelta(minutes=5)
    )


def lose_stamped_publications(tenant_ids: list[str]) -> None:
    """A change of each tenant that Redis never hears of, stamped as the invalidation stamps it."""
    Tenant.objects.filter(pk__in=tenant_ids).update(config_version=F("config_version") + 1, config_changed_at=Now())


def run_polls(redis_url: str | None, tenant_ids: list[str], scenario, *, ttl: float = 0.5):
    """Load every tenant into a real cache, then run ``scenario(cache, poller)``."""
    db = DatabaseRunner()

    async def main():
        client = aioredis.Redis.from_url(redis_url, socket_timeout=1.0) if redis_url else None
        generations = GenerationSource(client, ttl)
        cache = ConfigCache(generations=generations, db=db)
        poller = ConfigVersionPoller(cache, db, 1.0, generations=generations, slice_size=SLICE)
        for tenant_id in tenant_ids:
            assert await cache.tenant(tenant_id) is not None
        try:
            return await scenario(cache, poller)
        finally:
            if client is not None:
                await client.aclose()

    try:
        return asyncio.run(main())
    finally:
        db.shutdown()


def test_while_redis_answers_every_cached_tenant_is_read_within_its_rounds(redis_url, tenant_ids):
    rounds = math.ceil(TENANTS / SLICE)

    async def scenario(cache, poller):
        read = []
        for _ in range(2 * rounds):
            read.append(await poller.poll_once())
            # Used in reverse order of the poll: in the order of use, the tenants just read
            # would come first again and the others never.
            for tenant_id in reversed(read[-1]):
                await cache.tenant(tenant_id)
        return read

    read = run_polls(redis_url, tenant_ids, scenario)
    assert all(len(ids) == SLICE for ids in read)
    for first in range(len(read) - rounds + 1):
        window = [tenant_id for ids in read[first : first + rounds] for tenant_id in ids]
        assert set(window) == set(tenant_ids), f"polls {first} to {first + rounds - 1} missed a tenant"


def test_a_change_redis_never_heard_of_is_dropped_within_its_rounds(redis_url, tenant_ids):
    rounds = math.ceil(TENANTS / SLICE)

    async def scenario(cache, poller):
        await poller.poll_once()  # the rotation is somewhere in its round when the change comes
        await asyncio.to_thread(lose_publications, tenant_ids)
        cached = []
        for _ in range(rounds):
            await poller.poll_once()
            cached.append(set(cache.cached_tenant_ids()))
        return cached

    cached = run_polls(redis_url, tenant_ids, scenario)
    assert len(cached[0]) == TENANTS - SLICE  # one slice a poll, not every tenant
    assert cached[-1] == set()


def test_a_recent_change_redis_never_heard_of_is_dropped_by_the_next_poll(redis_url, tenant_ids):
    """SPEC: a change reaches every process within one second, also when its publication to
    Redis was lost: the poll reads the tenants changed in the last minute by their change time,
    whatever the slice, so a process caching 10,000 tenants is as quick as one caching ten."""

    async def scenario(cache, poller):
        await poller.poll_once()
        await asyncio.to_thread(lose_stamped_publications, tenant_ids)
        read = await poller.poll_once()
        return read, cache.cached_tenant_ids()

    read, cached = run_polls(redis_url, tenant_ids, scenario)
    assert len(read) == SLICE  # the slice is what it was; the changed tenants came on top
    assert cached == []


def test_every_configuration_change_stamps_its_tenants_change_time(transactional_db):
    tenant = factories.make_tenant()
    before = Tenant.objects.get(pk=tenant.pk).config_changed_at
    factories.make_agent(tenant)
    after = Tenant.objects.get(pk=tenant.pk).config_changed_at
    assert after is not None
    assert before is None or after > before
    assert abs((timezone.now() - after).total_seconds()) < 60


async def lost_change_then_poll(tenant_ids: list[str], cache, poller) -> tuple[list[str], list[str]]:
    await asyncio.to_thread(lose_publications, tenant_ids)
    read = await poller.poll_once()
    return read, cache.cached_tenant_ids()


def test_while_redis_is_unreadable_every_poll_reads_every_tenant(tenant_ids):
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    read, cached = run_polls(nobody, tenant_ids, lambda cache, poller: lost_change_then_poll(tenant_ids, cache, poller))
    assert sorted(read) == sorted(tenant_ids)
    assert cached == []


def test_without_redis_every_poll_reads_every_tenant(tenant_ids):
    """Without Redis a generation is exact for this process's own changes only: a change made
    by another process (a management command, a second server) arrives through the poll alone."""
    read, cached = run_polls(None, tenant_ids, lambda cache, poller: lost_change_then_poll(tenant_ids, cache, poller))
    assert sorted(read) == sorted(tenant_ids)
    assert cached == []


def test_a_generation_read_that_failed_since_the_last_poll_makes_the_next_one_read_all(tenant_ids):
    """On a Redis Cluster one node may be down while the one the poll's own read goes to
    answers: a generation read that failed is enough for a full poll."""
    server = PrivateRedis().start()

    async def scenario(cache, poller):
        sliced = await poller.poll_once()
        server.stop()
        assert await cache.tenant(tenant_ids[0]) is not None  # its generation read fails
        server.start()
        full = await poller.poll_once()
        after = await poller.poll_once()
        return sliced, full, after

    try:
        sliced, full, after = run_polls(server.url, tenant_ids, scenario, ttl=0.0)
    finally:
        server.stop()
    assert len(sliced) == SLICE
    assert sorted(full) == sorted(tenant_ids)
    assert len(after) == SLICE


def test_a_snapshot_newer_than_the_version_read_is_kept(redis_url, tenant_ids):
    """The poll's read may be older than a snapshot loaded while it ran: that one is current."""

    async def scenario(cache, poller):
        config = await cache.tenant(tenant_ids[0])
        cache.tenant_drop_if_stale(tenant_ids[0], config.config_version - 1)
        kept = tenant_ids[0] in cache.cached_tenant_ids()
        cache.tenant_drop_if_stale(tenant_ids[0], config.config_version + 1)
        return kept, tenant_ids[0] in cache.cached_tenant_ids()

    kept, kept_when_older = run_polls(redis_url, tenant_ids, scenario)
    assert kept
    assert not kept_when_older
