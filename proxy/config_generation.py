"""Per-tenant configuration generations: how every gateway process learns of a change.

Any write to a tenant's configuration bumps its generation (in Redis when ``REDIS_URL`` is
set, in-process otherwise). Gateway processes keep configuration in memory and re-read a
tenant's generation at most every ``CONFIG_CACHE_SECONDS``; a changed generation drops their
copies. This bounds the lag of a revocation or edit to well under the SPEC's one second
without any database query on a warm cache.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings

_local_generations: dict[str, int] = {}


def generation_key(tenant_id: str) -> str:
    return f"aid:cfg:gen:{tenant_id}"


@functools.cache
def _sync_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def config_generation_bump(tenant_id: str) -> None:
    _local_generations[tenant_id] = _local_generations.get(tenant_id, 0) + 1
    if settings.REDIS_URL:
        try:
            _sync_redis(settings.REDIS_URL).incr(generation_key(tenant_id))
        except redis.RedisError:
            # Gateways fall back to their short local TTL when they cannot read Redis either.
            import logging

            logging.getLogger(__name__).warning("could not publish configuration change for %s", tenant_id)


def local_generation(tenant_id: str) -> int:
    return _local_generations.get(tenant_id, 0)
