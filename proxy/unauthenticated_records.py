"""How many records a client without a credential may add to a tenant's forensic log.

A request to ``/apps/{slug}/…`` (or naming an app by ``X-App-Id``) is attributed to the app's
tenant before it authenticates, so its refusal is recorded in that tenant's log, with a user
agent and ids the client chose. Anyone could fill any tenant's log that way. Each client
address may add at most ``UNAUTHENTICATED_RECORDS_PER_MINUTE`` such records per app a minute,
counted across every gateway process in Redis (in-process without it); past that the request
is still refused the same way, but not recorded, and the drop is counted per tenant
(``aid:{tenant}:ua-dropped``) and logged once a minute per client and app.
"""

from __future__ import annotations

import ipaddress
import logging
import time

import redis.asyncio as aioredis

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60
MAX_LOCAL_WINDOWS = 50_000


def dropped_key(tenant_id: str) -> str:
    """Under the tenant's hash tag, like every key of the tenant (one Redis Cluster slot)."""
    return f"aid:{{{tenant_id}}}:ua-dropped"


def client_of(client_ip: str | None) -> str:
    """The client a budget belongs to: the address, or its /64 for IPv6, since one host
    holds a whole /64 and could otherwise take a fresh budget for every address in it."""
    if not client_ip:
        return "-"
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class UnauthenticatedRecordBudget:
    def __init__(self, redis_client: aioredis.Redis | aioredis.RedisCluster | None, per_minute: int) -> None:
        self._redis = redis_client
        self._per_minute = per_minute
        self._local: dict[str, int] = {}
        self.dropped_here = 0  # this process's drops, for tests and the log line

    async def admit(self, *, tenant_id: str, client_ip: str | None, app_ref: str | None) -> bool:
        """Whether this unauthenticated refusal may be recorded; counts it either way."""
        window = int(time.time() // WINDOW_SECONDS)
        key = f"aid:{{{tenant_id}}}:ua:{app_ref or '-'}:{client_of(client_ip)}:{window}"
        count = await self._count(key)
        if count <= self._per_minute:
            return True
        self.dropped_here += 1
        await self._count_drop(tenant_id)
        if count == self._per_minute + 1:
            logger.warning(
                "unauthenticated records of tenant %s from %s on app %s: over %d a minute, no longer recorded",
                tenant_id, client_ip, app_ref, self._per_minute,
            )  # fmt: skip
        return False

    async def _count(self, key: str) -> int:
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, WINDOW_SECONDS * 2)
                    count, _ = await pipe.execute()
                return int(count)
            except (aioredis.RedisError, OSError):
                pass  # Redis down: each process counts on its own, which still bounds the flood
        if len(self._local) > MAX_LOCAL_WINDOWS:
            self._local.clear()
        self._local[key] = self._local.get(key, 0) + 1
        return self._local[key]

    async def _count_drop(self, tenant_id: str) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.incr(dropped_key(tenant_id))
        except (aioredis.RedisError, OSError):
            logger.warning("dropped unauthenticated record of tenant %s not counted (Redis)", tenant_id)
