"""The paths that keep configuration cheap at scale, across two processes on PostgreSQL and Redis.

An agent is read on its first use with a snapshot, with the policies that name it; a process
keeps at most ``CONFIG_CACHE_MAX_TENANTS`` tenants and drops the least recently used. Neither
may change an answer: a change through one process is answered by the other at once, whether
the agent was read before the change or the tenant was evicted and read again.
"""

from __future__ import annotations

import time

import pytest

from tests.consistency.support import GatewayPair, Tally, unique
from tests.support.servers import GatewayProcess

CYCLES = 20


def _world(pair: GatewayPair) -> dict[str, str]:
    pair.create(0, "/v1/apps", {"name": "default", "slug": unique("scale-"), "is_default": True})
    pair.create(0, "/v1/providers", {"name": "mock", "kind": "mock", "models": ["mock-*"]})
    agent = pair.create(0, "/v1/agents", {"name": "warm"})
    key = pair.create(0, f"/v1/agents/{agent['id']}/keys", {"name": "warm"})
    for on in (0, 1):
        assert pair.chat(on, headers={"X-API-Key": key["key"]}).status_code == 200
    return {"agent_id": agent["id"], "key": key["key"]}


def _within_a_second(pair: GatewayPair, on: int, headers: dict[str, str], status: int) -> bool:
    """Whether process ``on`` answers ``status`` within the second the SPEC allows a change."""
    deadline = time.monotonic() + 1.0
    while True:
        if pair.chat(on, headers=headers).status_code == status:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_a_policy_naming_a_warm_agent_applies_on_every_process_within_a_second(pair):
    """The agent's policies are read with the agent, once per snapshot: binding and unbinding
    it must still reach both processes as any change does, though the agent was read before."""
    world = _world(pair)
    headers = {"X-API-Key": world["key"]}
    late = []
    for n in range(CYCLES):
        via, other = n % 2, 1 - n % 2
        policy = pair.create(
            via, "/v1/policies", {"name": unique("only-other-"), "agent_ids": [world["agent_id"]],
                                  "allowed_models": ["other-*"]},
        )  # fmt: skip
        late += [("bound", on) for on in (other, via) if not _within_a_second(pair, on, headers, 403)]
        pair.change(other, "PATCH", f"/v1/policies/{policy['id']}", {"agent_ids": []})
        late += [("unbound", on) for on in (via, other) if not _within_a_second(pair, on, headers, 200)]
    assert late == []


@pytest.fixture(scope="module")
def evicting_processes(django_db_setup, django_db_blocker, shared_redis_url):
    """Two processes that keep one tenant each: every other tenant's request evicts."""
    gateways = [
        GatewayProcess(redis_url=shared_redis_url, extra_env={"CONFIG_CACHE_MAX_TENANTS": "1"}).start()
        for _ in range(2)
    ]
    yield gateways
    for gateway in gateways:
        gateway.stop()


def test_a_change_reaches_a_process_that_evicted_and_reloaded_the_tenant(
    transactional_db, evicting_processes, settings, shared_redis_url
):
    from tests import factories

    settings.REDIS_URL = shared_redis_url
    pairs = []
    for _ in range(2):
        tenant, _, org_secret = factories.make_tenant_with_org_key()
        pairs.append(GatewayPair(evicting_processes, org_secret, tenant.id))
    try:
        first, second = pairs
        worlds = [_world(p) for p in pairs]
        tally = Tally()
        for n in range(CYCLES):
            via, other = n % 2, 1 - n % 2
            suspended = n % 4 < 2
            # The other tenant's request evicts the first one's snapshot and keys on both processes.
            for on in (0, 1):
                tally.add(second.chat(on, headers={"X-API-Key": worlds[1]["key"]}))
            first.change(
                via, "PATCH", f"/v1/agents/{worlds[0]['agent_id']}", {"status": "suspended" if suspended else "active"}
            )
            expected = (403, "agent_suspended") if suspended else (200, None)
            for on in (other, via):
                answer = first.chat(on, headers={"X-API-Key": worlds[0]["key"]})
                tally.add(("first", *expected) if answer.status_code == expected[0] else ("first-wrong", answer.text))
        assert tally.seen == {
            (200, None): 2 * CYCLES,
            ("first", 403, "agent_suspended"): CYCLES,
            ("first", 200, None): CYCLES,
        }
    finally:
        for p in pairs:
            p.close()
