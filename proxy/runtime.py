"""Per-process state of the gateway: configuration cache, upstream pool, record writer."""

from __future__ import annotations

from django.conf import settings

from forensics.recorder import RecordWriter
from identity.jwt_auth import TokenVerifier
from proxy.config_cache import (
    ConfigCache,
    ConfigVersionPoller,
    DatabaseRunner,
    GenerationSource,
    redis_client_from_settings,
)
from proxy.limit_store import limit_store_for
from proxy.upstream import UpstreamClient


class GatewayRuntime:
    """Created once per process (per event loop); holds no state another process needs."""

    def __init__(self) -> None:
        self.redis = redis_client_from_settings()
        self.db = DatabaseRunner()
        self.config = ConfigCache(generations=GenerationSource(self.redis, settings.CONFIG_CACHE_SECONDS), db=self.db)
        self.config_poller = ConfigVersionPoller(self.config, self.db, settings.CONFIG_POLL_SECONDS)
        self.upstream = UpstreamClient()
        self.tokens = TokenVerifier()
        self.limits = limit_store_for(self.redis)
        self.records = RecordWriter(self.db)
        self.max_request_bytes: int = settings.MAX_REQUEST_BYTES

    async def close(self) -> None:
        self.config_poller.stop()
        await self.upstream.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.db.shutdown()
