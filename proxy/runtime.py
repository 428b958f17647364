"""Per-process state of the gateway: configuration cache, upstream pool, record writer."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from django.conf import settings

from forensics.recorder import RecordWriter, record_sink_for
from keys.models import Key
from keys.services import credential_touch
from providers.pricing import list_prices_load
from proxy.agent_identity import AgentIdentitySigner
from proxy.config_cache import (
    ConfigCache,
    ConfigVersionPoller,
    DatabaseRunner,
    GenerationSource,
    redis_client_from_settings,
)
from proxy.jwt_verification import TokenVerifier
from proxy.limit_store import limit_store_for
from proxy.metrics import MetricsFlusher
from proxy.redis_cluster_pipe import redis_pipe_for
from proxy.tracing import tracer_from_settings
from proxy.unauthenticated_records import UnauthenticatedRecordBudget
from proxy.upstream import UpstreamClient

logger = logging.getLogger(__name__)


class LastUseRecorder:
    """Writes a key's ``last_used_at`` at most once per resolution window per process, as a
    background task: the request never waits for it (``keys.services.credential_touch``
    bounds the writes across processes too)."""

    def __init__(self, db: DatabaseRunner, interval: float) -> None:
        self._db, self._interval = db, interval
        self._noted: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()

    def note(self, key_id: str) -> None:
        now = time.monotonic()
        last = self._noted.get(key_id)
        if last is not None and now - last < self._interval:
            return
        self._noted[key_id] = now
        task = asyncio.get_running_loop().create_task(self._write(key_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, key_id: str) -> None:
        try:
            await self._db.run(credential_touch, Key, key_id)
        except Exception:
            logger.warning("last use of key %s not recorded", key_id)


_frozen = False


def _startup_objects_freeze() -> None:
    """Everything alive when the first runtime starts (Django, settings, modules) lives as long
    as the process: keep it out of the collector's full passes. A full pass over it was the
    slowest requests' extra milliseconds (p99; docs/performance.md → Decisions)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class GatewayRuntime:
    """Created once per process (per event loop); holds no state another process needs."""

    def __init__(self) -> None:
        list_prices_load()  # before the freeze: the price data lives as long as the process
        _startup_objects_freeze()
        self.redis = redis_client_from_settings()
        self.db = DatabaseRunner()
        generations = GenerationSource(self.redis, settings.CONFIG_CACHE_SECONDS)
        self.config = ConfigCache(generations=generations, db=self.db)
        self.config_poller = ConfigVersionPoller(
            self.config,
            self.db,
            settings.CONFIG_POLL_SECONDS,
            generations=generations,
            slice_size=settings.CONFIG_POLL_SLICE,
        )
        self.upstream = UpstreamClient()
        self.identity = AgentIdentitySigner(self.db, generations)
        self.tokens = TokenVerifier()
        # The per-request counters go over their own lean connection (proxy/redis_pipe.py), one
        # per master on a Redis Cluster (proxy/redis_cluster_pipe.py).
        self.limit_pipe = redis_pipe_for(settings.REDIS_URL)
        self.limits = limit_store_for(self.limit_pipe)
        self.last_use = LastUseRecorder(self.db, settings.KEY_LAST_USED_RESOLUTION_SECONDS)
        self.records = RecordWriter(record_sink_for(self.db))
        self.metrics = MetricsFlusher(self.records)
        self.tracer = tracer_from_settings(settings.OTEL_EXPORTER_OTLP_ENDPOINT)
        self.max_request_bytes: int = settings.MAX_REQUEST_BYTES
        self.unauthenticated_records = UnauthenticatedRecordBudget(
            self.redis, settings.UNAUTHENTICATED_RECORDS_PER_MINUTE
        )

    async def close(self) -> None:
        self.config_poller.stop()
        self.metrics.stop()
        await self.upstream.close()
        await self.records.close()
        if self.tracer is not None:
            await asyncio.to_thread(self.tracer.shutdown)
        if self.redis is not None:
            await self.redis.aclose()
        if self.limit_pipe is not None:
            await self.limit_pipe.close()
        await asyncio.to_thread(self.db.shutdown)
