"""The limit store's lean connection (proxy/redis_pipe.py) over a Redis Cluster: one
:class:`RedisPipe` per master, each script sent to the master that owns its keys' slot.

A request's keys all carry its tenant as hash tag (``aid:{tenant}:…``), so one script's keys
lie in one slot and the script stays one atomic step on one node: exactness holds on a
cluster as on one node.

The slot map is read with ``CLUSTER SLOTS`` from any node that answers (the seed nodes of
``REDIS_URL`` first, then the masters already known) when the pipe is first used and again
after a node was lost or the cluster said ``CLUSTERDOWN``. A ``MOVED`` reply (the slot has a
new owner) is followed at once and the map re-read; an ``ASK`` reply (the slot is being
migrated) is followed for that one command with ``ASKING``, without changing the map.

Why not redis-py's ``RedisCluster`` here: the same reason as :mod:`proxy.redis_pipe` (its
per-command cost on the hot path); redis-py supplies the slot function (``redis.crc``).
The single-node path does not go through this module at all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from core.redis_clients import cluster_url_parse, is_cluster_url
from proxy.redis_pipe import LuaScript, RedisPipe, RedisPipeError

logger = logging.getLogger(__name__)
MAX_REDIRECTS = 3
# Errors after which the map is read again before the next command: the topology moved.
_TOPOLOGY_ERRORS = ("CLUSTERDOWN", "cannot connect", "connection to Redis lost", "Redis did not answer")


def _address(text: str, default_host: str) -> tuple[str, int]:
    """``host:port`` of a MOVED/ASK reply or a slot map entry; an empty host is the asked node's."""
    host, _, port = text.rpartition(":")
    return (host or default_host), int(port)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ClusterRedisPipe:
    """The interface of :class:`RedisPipe` that the limit store uses (``evalsha``, ``close``)."""

    def __init__(self, url: str, *, timeout: float = 1.0, connect_timeout: float = 1.0) -> None:
        self._cluster = cluster_url_parse(url)
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._nodes: dict[tuple[str, int], RedisPipe] = {}
        self._slots: list[RedisPipe | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        self._stale = True
        self._refreshing: asyncio.Future | None = None

    async def evalsha(self, script: LuaScript, keys: list[str], args: list[Any]) -> Any:
        slot = key_slot(keys[0].encode()) if keys else 0
        if self._stale:
            await self._refresh()
        node = self._slots[slot]
        if node is None:
            self._stale = True
            raise RedisPipeError(f"no Redis Cluster node serves slot {slot}")
        for _ in range(MAX_REDIRECTS):
            try:
                return await node.evalsha(script, keys, args)
            except RedisPipeError as exc:
                message = str(exc)
                if message.startswith("MOVED "):
                    # The slot has a new owner: follow it now, read the whole map before the next.
                    self._stale = True
                    node = self._node(*_address(message.split()[2], node.host))
                    continue
                if message.startswith("ASK "):
                    target = self._node(*_address(message.split()[2], node.host))
                    # Once, with the source: the importing node may not have the script loaded.
                    return await target.call_after_asking(("EVAL", script.source, len(keys), *keys, *args))
                if message.startswith(_TOPOLOGY_ERRORS):
                    self._stale = True
                raise
        raise RedisPipeError(f"slot {slot} moved more than {MAX_REDIRECTS} times in one command")

    async def close(self) -> None:
        for node in self._nodes.values():
            await node.close()
        self._nodes.clear()

    def _node(self, host: str, port: int) -> RedisPipe:
        node = self._nodes.get((host, port))
        if node is None:
            node = RedisPipe(self._cluster.node_url(host, port), timeout=self._timeout,
                             connect_timeout=self._connect_timeout)  # fmt: skip
            self._nodes[(host, port)] = node
        return node

    async def _refresh(self) -> None:
        # Concurrent callers share one reading of the map.
        if self._refreshing is not None:
            await asyncio.shield(self._refreshing)
            return
        self._refreshing = asyncio.get_running_loop().create_future()
        try:
            await self._slots_load()
        except RedisPipeError as exc:
            self._refreshing.set_exception(exc)
            self._refreshing.exception()  # retrieved: no warning when nobody shares it
            raise
        else:
            self._refreshing.set_result(None)
        finally:
            self._refreshing = None

    async def _slots_load(self) -> None:
        candidates = list(dict.fromkeys([*self._cluster.nodes, *self._nodes]))
        for host, port in candidates:
            try:
                ranges = await self._node(host, port).command("CLUSTER", "SLOTS")
            except RedisPipeError as exc:
                logger.info("Redis Cluster node %s:%s gave no slot map: %s", host, port, exc)
                continue
            slots: list[RedisPipe | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
            masters = set()
            for start, end, master, *_replicas in ranges:
                address = (_text(master[0]) or host, int(master[1]))
                masters.add(address)
                owner = self._node(*address)
                slots[int(start) : int(end) + 1] = [owner] * (int(end) - int(start) + 1)
            self._slots, self._stale = slots, False
            for address in [a for a in self._nodes if a not in masters and a not in self._cluster.nodes]:
                await self._nodes.pop(address).close()
            return
        raise RedisPipeError("no Redis Cluster node answered with a slot map")


def redis_pipe_for(url: str) -> RedisPipe | ClusterRedisPipe | None:
    """The limit store's connection for ``REDIS_URL``: none, one node, or a cluster."""
    if not url:
        return None
    return ClusterRedisPipe(url) if is_cluster_url(url) else RedisPipe(url)
