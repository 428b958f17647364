"""Per-tenant configuration generations: how every gateway process learns of a change.

Any write to a tenant's configuration bumps its generation (in Redis when ``REDIS_URL`` is
set, in-process otherwise). Gateway processes keep configuration in memory and re-read a
tenant's generation at most every ``CONFIG_CACHE_SECONDS``; a changed generation drops their
copies. This bounds the lag of a revocation or edit to well under the SPEC's one second
without any database query on a warm cache.
"""

from __future__ import annotations

import functools
import logging

import redis
from django.conf import settings

from core.redis_clients import sync_client

logger = logging.getLogger(__name__)
_local_generations: dict[str, int] = {}
# The platform-wide generation of app slugs and ids: it moves whenever an app is created,
# renamed or deleted, so that a process's memory of "no such app" ends the moment one exists.
# Platform-wide keys are only ever read or written alone: on a cluster any slot serves.
APP_DIRECTORY_KEY = "aid:cfg:apps"
_local_app_directory = 0


def generation_key(tenant_id: str) -> str:
    """Under the tenant's hash tag, like every key of the tenant (one Redis Cluster slot)."""
    return f"aid:{{{tenant_id}}}:cfg:gen"


@functools.cache
def _sync_redis(url: str) -> redis.Redis | redis.RedisCluster:
    return sync_client(url, socket_timeout=2, socket_connect_timeout=2)


def config_generation_bump(tenant_id: str) -> None:
    _local_generations[tenant_id] = _local_generations.get(tenant_id, 0) + 1
    if settings.REDIS_URL:
        try:
            _sync_redis(settings.REDIS_URL).incr(generation_key(tenant_id))
        except redis.RedisError:
            # Gateways fall back to their short local TTL when they cannot read Redis either.
            logger.warning("could not publish configuration change for %s", tenant_id)


def local_generation(tenant_id: str) -> int:
    return _local_generations.get(tenant_id, 0)


def app_directory_bump() -> None:
    global _local_app_directory
    _local_app_directory += 1
    if settings.REDIS_URL:
        try:
            _sync_redis(settings.REDIS_URL).incr(APP_DIRECTORY_KEY)
        except redis.RedisError:
            # Remembered absences then end by their short time limit alone.
            logger.warning("could not publish an app directory change")


def local_app_directory() -> int:
    return _local_app_directory


# The platform's agent identity keys (SPEC 3.10): moves when a key is stored or retired.
IDENTITY_KEYS_KEY = "aid:cfg:identity"
_local_identity_keys = 0


def identity_keys_bump() -> None:
    global _local_identity_keys
    _local_identity_keys += 1
    if settings.REDIS_URL:
        try:
            _sync_redis(settings.REDIS_URL).incr(IDENTITY_KEYS_KEY)
        except redis.RedisError:
            # Gateways then pick the new key up on their periodic reload (proxy.agent_identity).
            logger.warning("could not publish an agent identity key change")


def local_identity_keys() -> int:
    return _local_identity_keys
