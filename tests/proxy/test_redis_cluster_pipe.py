"""The limit store's connection over a real three-master Redis Cluster: each script goes to the
master owning its keys' slot, a moved slot is followed (MOVED), a slot being migrated is
served by the importing node for that command (ASK), and the counters stay exact."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.crc import key_slot

from core.redis_clients import RedisUrlError, cluster_url_parse, is_cluster_url
from proxy.limit_store import Check, RedisLimitStore
from proxy.redis_cluster_pipe import ClusterRedisPipe, redis_pipe_for
from proxy.redis_pipe import LuaScript, RedisPipe
from tests.support.requirements import needs_redis_cluster

INCR = LuaScript("return redis.call('INCR', KEYS[1])")


def _tag_on(cluster, master_index: int) -> str:
    """A fresh hash tag whose slot the ``master_index``-th master owns."""
    client = cluster.client()
    try:
        owner = client.get_primaries()[master_index]
        while True:
            tag = f"aid:{{pipe-test-{uuid.uuid4().hex[:12]}}}"
            if client.get_node_from_key(tag) == owner:
                return tag
    finally:
        client.close()


def _node_ids(cluster) -> dict[tuple[str, int], str]:
    client = cluster.client()
    try:
        return {(n.host, n.port): client.cluster_myid(n) for n in client.get_primaries()}
    finally:
        client.close()


def _owner_of(cluster, key: str):
    client = cluster.client()
    try:
        node = client.get_node_from_key(key)
        return node.host, node.port
    finally:
        client.close()


def test_cluster_urls_are_told_apart_and_parsed():
    assert [is_cluster_url(u) for u in ("redis+cluster://a:1,b:2", "rediss+cluster://a:1")] == [True, True]
    assert [is_cluster_url(u) for u in ("redis://127.0.0.1:6379/0", "")] == [False, False]
    parsed = cluster_url_parse("rediss+cluster://bob:p%40ss@10.0.0.1:7000,10.0.0.2:7001/0")
    assert parsed.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert (parsed.username, parsed.password, parsed.tls) == ("bob", "p@ss", True)
    assert parsed.node_url("10.0.0.2", 7001) == "rediss://bob:p%40ss@10.0.0.2:7001/0"
    assert cluster_url_parse("redis+cluster://:secret@h:1").password == "secret"
    for bad in ("redis+cluster://h:1/3", "redis+cluster://", "redis+cluster://hostonly"):
        with pytest.raises(RedisUrlError):
            cluster_url_parse(bad)
    assert isinstance(redis_pipe_for("redis://127.0.0.1:6379/0"), RedisPipe)
    assert isinstance(redis_pipe_for("redis+cluster://127.0.0.1:1"), ClusterRedisPipe)
    assert redis_pipe_for("") is None


@needs_redis_cluster
def test_each_script_runs_on_the_master_owning_its_slot(redis_cluster):
    tags = [_tag_on(redis_cluster, i) for i in range(3)]

    async def run() -> list[int]:
        pipe = ClusterRedisPipe(redis_cluster.url)
        try:
            return [await pipe.evalsha(INCR, [f"{tag}:n"], []) for tag in tags for _ in range(2)]
        finally:
            await pipe.close()

    assert asyncio.run(run()) == [1, 2] * 3
    for tag in tags:  # each counter lives on its owner, and nowhere else
        held = redis_cluster.keys_by_master(f"{tag}:*")
        owner = _owner_of(redis_cluster, tag)
        assert {address: keys for address, keys in held.items() if keys} == {owner: {f"{tag}:n"}}


@needs_redis_cluster
def test_parallel_admissions_on_the_cluster_admit_exactly_the_limit(redis_cluster):
    tag = _tag_on(redis_cluster, 1)

    async def run() -> list[bool]:
        pipes = [ClusterRedisPipe(redis_cluster.url) for _ in range(2)]  # two processes' worth
        stores = [RedisLimitStore(pipe) for pipe in pipes]
        try:
            checks = [Check("window", f"{tag}:rpm:k", 7, "rpm"), Check("lease", f"{tag}:inflight:k", 100, "c",
                                                                     ttl_ms=60_000)]  # fmt: skip
            results = await asyncio.gather(*(
                stores[i % 2].admit(checks, member=f"m{i}", now_ms=1_000_000 + i) for i in range(20)
            ))  # fmt: skip
            return [r.admitted for r in results]
        finally:
            for pipe in pipes:
                await pipe.close()

    assert asyncio.run(run()).count(True) == 7


@needs_redis_cluster
def test_a_slot_moved_to_another_master_is_followed(redis_cluster):
    tag = _tag_on(redis_cluster, 0)
    key = f"{tag}:moved"
    slot = key_slot(key.encode())
    ids = _node_ids(redis_cluster)
    source = _owner_of(redis_cluster, key)
    target = next(address for address in ids if address != source)

    async def run() -> tuple[int, int]:
        pipe = ClusterRedisPipe(redis_cluster.url)
        try:
            first = await pipe.evalsha(INCR, [key], [])  # the map is read: the slot is on source
            await pipe.evalsha(INCR, [key], [])
            # Empty the slot and hand it to another master, on every node (a resharding's last step).
            redis_cluster.client().delete(key)
            for master in redis_cluster.masters().values():
                master.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
            moved = await pipe.evalsha(INCR, [key], [])  # the source answers MOVED
            return first, moved
        finally:
            await pipe.close()

    assert asyncio.run(run()) == (1, 1)
    assert _owner_of(redis_cluster, key) == target
    client = redis_cluster.client()
    assert int(client.get(key)) == 1
    client.delete(key)
    client.close()


@needs_redis_cluster
def test_a_slot_being_migrated_is_served_by_the_importing_master(redis_cluster):
    tag = _tag_on(redis_cluster, 2)
    key = f"{tag}:asked"
    slot = key_slot(key.encode())
    ids = _node_ids(redis_cluster)
    source = _owner_of(redis_cluster, key)
    target = next(address for address in ids if address != source)
    plain = redis_cluster.masters()

    async def run() -> int:
        pipe = ClusterRedisPipe(redis_cluster.url)
        try:
            await pipe.evalsha(INCR, [f"{tag}:warm"], [])  # the map is read: the slot is on source
            redis_cluster.client().delete(f"{tag}:warm")
            plain[target].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
            plain[source].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
            # The key is not on the source: it answers ASK, and the importing master runs it.
            return await pipe.evalsha(INCR, [key], [])
        finally:
            await pipe.close()

    try:
        assert asyncio.run(run()) == 1
        held = redis_cluster.keys_by_master(key)
        assert (held[target], held[source]) == ({key}, set())
    finally:
        for master in plain.values():  # the migration ends: the slot is the target's
            master.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
        client = redis_cluster.client()
        client.delete(key)
        client.close()
