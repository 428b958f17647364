"""Django's Redis cache backend over a Redis Cluster (``REDIS_URL=redis+cluster://…``).

Django's own backend takes single-node URLs and sends ``MGET``/``MSET`` of any keys in one
command, which a cluster refuses when the keys lie in different slots. This backend differs
only there: one ``redis.RedisCluster`` client per process, and the many-key operations split by
slot (redis-py's ``*_nonatomic`` commands; ``DEL`` of many keys it splits by itself).
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from core.redis_clients import sync_client


class RedisClusterCacheClient(RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._cluster = None

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        if self._cluster is None:
            self._cluster = sync_client(self._servers[0], socket_timeout=2, socket_connect_timeout=2)
        return self._cluster

    def get_many(self, keys: Any) -> dict[str, Any]:
        keys = list(keys)
        values = self.get_client().mget_nonatomic(keys)
        return {k: self._serializer.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def set_many(self, data: dict[str, Any], timeout: int | None) -> None:
        client = self.get_client(write=True)
        client.mset_nonatomic({k: self._serializer.dumps(v) for k, v in data.items()})
        if timeout is not None:
            pipeline = client.pipeline()
            for key in data:
                pipeline.expire(key, timeout)
            pipeline.execute()


class RedisClusterCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        # The whole URL is one location: its commas separate seed nodes, not cache servers.
        super().__init__([server], params)
        self._class = RedisClusterCacheClient
