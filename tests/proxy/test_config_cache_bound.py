"""A process keeps at most CONFIG_CACHE_MAX_TENANTS tenants: the least recently used goes first,
with its keys, and comes back on its next request (docs/decisions.md → Configuration at scale)."""

from __future__ import annotations

import asyncio

from proxy.config_cache import ConfigCache, DatabaseRunner, GenerationSource
from tests import factories


def _tenant_with_key() -> tuple[str, str]:
    tenant = factories.make_tenant()
    agent = factories.make_agent(tenant)
    _, secret = factories.make_key(agent)
    return tenant.id, secret


def test_it_keeps_the_most_recently_used_tenants_and_reloads_an_evicted_one(transactional_db):
    worlds = [_tenant_with_key() for _ in range(3)]
    db = DatabaseRunner()
    cache = ConfigCache(generations=GenerationSource(None, 0.5), db=db, max_tenants=2)

    async def scenario() -> list[list[str]]:
        seen = []
        for _, secret in worlds:
            assert await cache.key(secret) is not None
        seen.append(cache.cached_tenant_ids())
        assert await cache.key(worlds[1][1]) is not None  # used: now the most recent
        assert await cache.key(worlds[0][1]) is not None  # evicted before: read again
        seen.append(cache.cached_tenant_ids())
        found = await cache.key(worlds[0][1])
        assert found is not None
        assert found[1].tenant_id == worlds[0][0]
        assert found[1].agents[found[0].agent_id].active
        return seen

    try:
        after_three, after_reuse = asyncio.run(scenario())
    finally:
        db.shutdown()
    ids = [tenant_id for tenant_id, _ in worlds]
    assert after_three == [ids[1], ids[2]]
    assert after_reuse == [ids[1], ids[0]]


def test_a_snapshot_reads_an_agent_only_when_it_is_used(transactional_db):
    tenant = factories.make_tenant()
    agents = [factories.make_agent(tenant) for _ in range(3)]
    _, secret = factories.make_key(agents[0])
    policy = factories.make_policy(tenant, agent_ids=[agents[0].id], requests_per_minute=5)
    db = DatabaseRunner()
    cache = ConfigCache(generations=GenerationSource(None, 0.5), db=db)

    async def scenario():
        key, config = await cache.key(secret)
        return key, config, await cache.agent(config, agents[2].id), await cache.agent(config, "ag_none")

    try:
        key, config, other, missing = asyncio.run(scenario())
    finally:
        db.shutdown()
    assert set(config.agents) == {agents[0].id, agents[2].id}
    assert config.agents[key.agent_id].policy_ids == frozenset({policy.id})
    assert other.policy_ids == frozenset()
    assert missing is None
