"""The gateway process's configuration cache: no database query on a warm cache.

Entries are valid while their tenant's generation is unchanged. A process reads a tenant's
generation (one Redis GET) at most every ``CONFIG_CACHE_SECONDS``; without Redis the
in-process generation is read directly, which is exact for the single process it serves.
Loads run on a small thread pool and concurrent misses for the same entry share one load.

That bounds how long a *change* takes to arrive; a *new* object must work at once (SPEC 1).
Two rules make it so, whatever the generation says:
- a row read from the database (a key, an app's slug or id) carries its tenant's
  ``config_version`` from the same statement, and a snapshot older than that is reloaded
  before the row is used, since it may lack the agent or app the row names;
- an answer that refuses because something is absent (an unknown app or model) is given
  only after the database confirms the snapshot is current (``tenant_confirmed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis.asyncio as aioredis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connections

from core.redis_clients import async_cluster_client, is_cluster_url
from keys.secrets import secret_digest
from proxy.config_generation import (
    APP_DIRECTORY_KEY,
    IDENTITY_KEYS_KEY,
    generation_key,
    local_app_directory,
    local_generation,
    local_identity_keys,
)
from proxy.config_loading import (
    agent_entry_load,
    app_ref_tenant_load,
    app_slug_tenant_load,
    key_entry_load,
    tenant_config_load,
    tenant_config_version_load,
    tenant_config_versions_load,
)
from proxy.config_snapshot import AgentEntry, KeyEntry, TenantConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")
NEGATIVE_TTL_SECONDS = 2.0
# How far back (the database's clock) a poll reads the tenants whose configuration changed. A
# change is stamped when its statement runs, so one whose transaction commits later than this
# is left to the slice's rotation.
CHANGE_LOOKBACK_SECONDS = 60.0
MAX_NEGATIVE_ENTRIES = 10_000


class DatabaseRunner:
    """Runs ORM work off the event loop on a few dedicated threads with reusable connections."""

    def __init__(self, workers: int = 4) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aid-db")
        self._connections: set = set()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        def job() -> T:
            # The thread keeps its connection open across jobs (no per-job health ping); a
            # database error drops it, so the next job reconnects.
            connection = connections["default"]
            self._connections.add(connection)
            try:
                return fn(*args)
            except (DatabaseError, InterfaceError):
                connection.close()
                raise

        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    def shutdown(self) -> None:
        """Blocking, and not from an event loop (Django refuses to close connections there)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        # The worker threads are gone; close their connections from here. Through Django's
        # wrapper (allowed to cross threads for this), so that a pooled connection goes back
        # to its pool rather than staying counted as borrowed for the life of the process.
        for wrapper in self._connections:
            if wrapper.connection is not None:
                with contextlib.suppress(Exception):
                    wrapper.inc_thread_sharing()
                    wrapper.close()
        self._connections.clear()


class GenerationSource:
    """The current configuration generation of each tenant, re-read at most every ``ttl``."""

    def __init__(self, redis_client: aioredis.Redis | aioredis.RedisCluster | None, ttl: float) -> None:
        self._redis = redis_client
        # The tenant's generation and the platform's identity keys lie in different slots of a
        # cluster, where one MGET across slots is refused: there, one GET per slot, concurrently.
        self._mget: Callable[..., Awaitable[list[Any]]]
        if isinstance(redis_client, aioredis.RedisCluster):
            self._mget = redis_client.mget_nonatomic
        elif redis_client is not None:
            self._mget = redis_client.mget
        self._ttl = ttl
        self._seen: dict[str, tuple[int, float]] = {}
        self._local_seen: dict[str, int] = {}
        # Failed generation reads so far, and as last looked at by ``readable``.
        self._failed_reads = 0
        self._failed_reads_seen = 0
        # The agent identity keys' generation (proxy.agent_identity), read with every tenant's:
        # a rotation arrives as fast as a configuration change, for no round trip of its own.
        self._identity_keys = 0

    def forget(self, tenant_id: str) -> None:
        """Drop what is remembered of an evicted tenant (its next use reads Redis again)."""
        self._seen.pop(tenant_id, None)
        self._local_seen.pop(tenant_id, None)

    async def current(self, tenant_id: str) -> int:
        local = local_generation(tenant_id)
        if self._redis is None:
            return local
        now = time.monotonic()
        seen = self._seen.get(tenant_id)
        # A change made in this very process is seen at once; others' within the TTL.
        if seen is not None and now - seen[1] < self._ttl and self._local_seen.get(tenant_id) == local:
            return seen[0]
        self._local_seen[tenant_id] = local
        try:
            raw, identity_keys = await self._mget(generation_key(tenant_id), IDENTITY_KEYS_KEY)
        except (aioredis.RedisError, OSError):
            # Redis down: keep serving from what we have (authentication works from cache).
            logger.warning("configuration generation unreadable; serving cached configuration")
            self._failed_reads += 1
            value = seen[0] if seen else 0
            self._seen[tenant_id] = (value, now)
            return value
        value = int(raw) if raw else 0
        self._seen[tenant_id] = (value, now)
        self._identity_keys = int(identity_keys) if identity_keys else 0
        return value

    async def readable(self, timeout: float) -> bool:
        """Whether Redis carries changes now: it answers a read within ``timeout`` and no
        generation read has failed since the last call. False without Redis, where a
        generation is exact only for changes made in this very process.

        A read of its own, so that an outage is seen even while no request reads a generation
        (a change made then would otherwise wait for the next request to be noticed); the
        failures since the last call, so that a Redis Cluster node that is down is seen even
        when the node this read goes to answers.
        """
        if self._redis is None:
            return False
        failed, self._failed_reads_seen = self._failed_reads != self._failed_reads_seen, self._failed_reads
        try:
            await asyncio.wait_for(self._redis.get(IDENTITY_KEYS_KEY), timeout)
        except (aioredis.RedisError, OSError, TimeoutError):
            return False
        return not failed

    def identity_keys(self) -> int:
        """The agent identity keys' generation as last read (exact without Redis)."""
        return local_identity_keys() if self._redis is None else self._identity_keys

    async def app_directory(self) -> int | None:
        """The platform's app directory generation, read now; None when it cannot be read."""
        if self._redis is None:
            return local_app_directory()
        try:
            raw = await self._redis.get(APP_DIRECTORY_KEY)
        except (aioredis.RedisError, OSError):
            return None
        return int(raw) if raw else 0


class ConfigCache:
    """Tenants' snapshots and keys' entries, at most ``max_tenants`` tenants at a time.

    Past the bound the least recently used tenant is dropped with its keys' entries (and
    loaded again on its next request, as after a change): a process's memory is bounded by
    its busiest tenants, not by how many tenants the platform has.
    """

    def __init__(self, *, generations: GenerationSource, db: DatabaseRunner, max_tenants: int | None = None) -> None:
        self._generations = generations
        self._db = db
        self.db = db
        self._max_tenants = max(1, settings.CONFIG_CACHE_MAX_TENANTS if max_tenants is None else max_tenants)
        # Least recently used first: a hit moves its tenant to the end.
        self._tenants: OrderedDict[str, TenantConfig] = OrderedDict()
        # The same tenants in the order the poller checks them (``tenants_to_check``): a stable
        # round, which the order of use above is not.
        self._check_order: OrderedDict[str, None] = OrderedDict()
        self._keys: dict[str, tuple[KeyEntry, TenantConfig]] = {}
        # The digests of the cached keys of each tenant: dropped with the tenant.
        self._tenant_keys: dict[str, set[str]] = {}
        self._missing_keys: dict[str, float] = {}
        self._slugs: dict[str, str] = {}
        # Token → (when, app directory generation then): an app remembered as absent.
        self._missing_slugs: dict[str, tuple[float, int | None]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future] = {}
        self._version_reads: dict[str, tuple[float, asyncio.Future]] = {}

    async def _shared_load(self, token: tuple[str, str], load: Callable[[], Awaitable[T]]) -> T:
        future = self._inflight.get(token)
        if future is not None:
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[token] = future
        try:
            result = await load()
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(token, None)

    async def tenant(self, tenant_id: str, at_least: int = 0) -> TenantConfig | None:
        """The tenant's snapshot: reloaded when its generation has moved, or when it is older
        than ``at_least`` (the ``config_version`` read with a row the snapshot must hold)."""
        generation = await self._generations.current(tenant_id)
        cached = self._tenants.get(tenant_id)
        if cached is not None and cached.generation == generation and cached.config_version >= at_least:
            self._tenants.move_to_end(tenant_id)
            return cached

        async def load() -> TenantConfig | None:
            config = await self._db.run(tenant_config_load, tenant_id, generation)
            if config is not None:
                self._tenants[tenant_id] = config
                self._tenants.move_to_end(tenant_id)
                self._check_order.setdefault(tenant_id)
                self._evict()
            return config

        config = await self._shared_load(("tenant", tenant_id), load)
        if config is not None and config.config_version < at_least:
            # The load joined had begun before that version was committed; the next one
            # begins after it (one load of a tenant at a time), so it holds the row's objects.
            config = await self._shared_load(("tenant", tenant_id), load)
        return config

    async def tenant_confirmed(self, config: TenantConfig, since: float) -> TenantConfig:
        """``config`` if the database holds no newer configuration of its tenant, else a
        snapshot that is at least as new as the database was when this was called.

        For refusals that say something is absent (an unknown app or model), a model list, and
        the first family-routed use of a model name on a snapshot: one primary-key read there
        only, never on an admitted chat or embeddings request that its snapshot already knew. Concurrent
        callers share a read begun after ``since`` (a ``time.perf_counter()`` instant; the
        request's start), so none is answered from a read older than its own request.
        """
        try:
            version = await self._version_read(config.tenant_id, since)
            if version is None or version <= config.config_version:
                return config
            return await self.tenant(config.tenant_id, at_least=version) or config
        except (DatabaseError, InterfaceError):
            logger.warning("configuration version unreadable; answering from the cached configuration")
            return config

    async def _version_read(self, tenant_id: str, since: float) -> int | None:
        under_way = self._version_reads.get(tenant_id)
        if under_way is not None and under_way[0] >= since:
            return await asyncio.shield(under_way[1])
        read = (time.perf_counter(), asyncio.get_running_loop().create_future())
        self._version_reads[tenant_id] = read
        try:
            version = await self._db.run(tenant_config_version_load, tenant_id)
            read[1].set_result(version)
            return version
        except BaseException as exc:
            read[1].set_exception(exc)
            read[1].exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            if self._version_reads.get(tenant_id) is read:
                del self._version_reads[tenant_id]

    def _evict(self) -> None:
        while len(self._tenants) > self._max_tenants:
            tenant_id, _ = self._tenants.popitem(last=False)
            self._check_order.pop(tenant_id, None)
            self._keys_drop(tenant_id)
            self._generations.forget(tenant_id)

    def _keys_drop(self, tenant_id: str) -> None:
        for digest in self._tenant_keys.pop(tenant_id, ()):
            self._keys.pop(digest, None)

    def cached_tenant_ids(self) -> list[str]:
        return list(self._tenants)

    def tenants_to_check(self, limit: int | None) -> list[str]:
        """The cached tenants whose ``config_version`` the poller reads now: every one
        (``limit`` None), or the next ``limit`` of a round in which each comes once, so that
        each is read at least every ``ceil(cached / limit)`` calls."""
        order = self._check_order
        if limit is None or limit >= len(order):
            return list(order)
        due = list(itertools.islice(order, limit))
        for tenant_id in due:
            order.move_to_end(tenant_id)
        return due

    def tenant_drop_if_stale(self, tenant_id: str, config_version: int) -> None:
        """Drop the tenant's snapshot if it is older than ``config_version`` (one read by the
        poller): a snapshot loaded since that read may be newer, and is kept."""
        config = self._tenants.get(tenant_id)
        if config is not None and config.config_version < config_version:
            del self._tenants[tenant_id]
            del self._check_order[tenant_id]
            # Its keys' entries were valid with that snapshot only (``key``); left here they
            # would stay until an eviction that a tenant no longer cached never has.
            self._keys_drop(tenant_id)

    async def key(self, secret: str) -> tuple[KeyEntry, TenantConfig] | None:
        """The key of an ``aid_sk_`` secret and its tenant's configuration, or None.

        Entries are held by digest, so process memory holds no secret beyond the request.
        The configuration returned holds the key's agent and app if the database does.
        """
        digest = secret_digest(secret)
        cached = self._keys.get(digest)
        if cached is not None:
            entry, loaded_with = cached
            config = await self.tenant(entry.tenant_id)
            # Valid while the tenant's snapshot it was loaded with is still the current one.
            if config is not None and config is loaded_with:
                return entry, config
        elif (
            missing_since := self._missing_keys.get(digest)
        ) and time.monotonic() - missing_since < NEGATIVE_TTL_SECONDS:
            # Only a secret the database did not have; a new key has a secret nobody asked for.
            return None

        async def load() -> KeyEntry | None:
            return await self._db.run(key_entry_load, digest)

        loaded = await self._shared_load(("key", digest), load)
        if loaded is None:
            if len(self._missing_keys) > MAX_NEGATIVE_ENTRIES:
                self._missing_keys.clear()
            self._missing_keys[digest] = time.monotonic()
            self._keys.pop(digest, None)
            return None
        entry = loaded
        config = await self.tenant(entry.tenant_id, at_least=entry.config_version)
        if config is None:
            return None
        # Read now, so that a warm key finds its agent in the snapshot it is valid with.
        await self.agent(config, entry.agent_id)
        if entry.tenant_id in self._tenants:  # not if evicted meanwhile: it would never be dropped
            self._keys[digest] = (entry, config)
            self._tenant_keys.setdefault(entry.tenant_id, set()).add(digest)
        return entry, config

    async def agent(self, config: TenantConfig, agent_id: str) -> AgentEntry | None:
        """The tenant's agent: from the snapshot, or read on its first use and kept there.

        A snapshot holds only the agents that have been used with it, so that its load and its
        memory do not grow with the tenant's agents; an agent costs one read per snapshot. None:
        the database has no such agent in the tenant now. Loads are shared only by requests on
        the same snapshot, so an entry read before a change never lands in a newer snapshot.
        """
        found = config.agents.get(agent_id)
        if found is not None:
            return found

        async def load() -> AgentEntry | None:
            return await self._db.run(agent_entry_load, config.tenant_id, agent_id)

        token = ("agent", f"{config.tenant_id}:{agent_id}:{config.generation}:{config.config_version}")
        found = await self._shared_load(token, load)
        if found is not None:
            config.agents[agent_id] = found
        return found

    async def tenant_of_slug(self, slug: str) -> TenantConfig | None:
        """The tenant owning the app with this slug (the ``/apps/{slug}/`` path)."""
        return await self._tenant_of_app(slug, app_slug_tenant_load, by_slug=True)

    async def tenant_of_app_ref(self, ref: str) -> TenantConfig | None:
        """The tenant owning the app with this id or slug (``X-App-Id`` with a JWT)."""
        return await self._tenant_of_app(ref, app_ref_tenant_load, by_slug=False)

    async def _tenant_of_app(self, ref: str, loader, *, by_slug: bool) -> TenantConfig | None:
        token = ("slug:" if by_slug else "ref:") + ref
        tenant_id = self._slugs.get(token)
        if tenant_id is not None:
            config = await self.tenant(tenant_id)
            if config is not None and _names_app(config, ref, by_slug):
                return config
            self._slugs.pop(token, None)
        elif await self._known_missing(token):
            return None
        directory = await self._generations.app_directory()
        found = await self._db.run(loader, ref)
        if found is None:
            if len(self._missing_slugs) > MAX_NEGATIVE_ENTRIES:
                self._missing_slugs.clear()
            self._missing_slugs[token] = (time.monotonic(), directory)
            return None
        tenant_id, version = found
        self._slugs[token] = tenant_id
        config = await self.tenant(tenant_id, at_least=version)
        if config is None or not _names_app(config, ref, by_slug):
            return None
        return config

    async def _known_missing(self, token: str) -> bool:
        """Whether the app is remembered as absent: for a short while, and only while no app
        has been created, renamed or deleted anywhere since (the directory generation)."""
        missing = self._missing_slugs.get(token)
        if missing is None:
            return False
        since, directory = missing
        if time.monotonic() - since >= NEGATIVE_TTL_SECONDS:
            return False
        if directory is None:
            return True  # Redis was unreadable then: the time limit alone bounds it
        return await self._generations.app_directory() == directory


def _names_app(config: TenantConfig, ref: str, by_slug: bool) -> bool:
    return ref in config.slugs or (not by_slug and ref in config.apps)


def redis_client_from_settings() -> aioredis.Redis | aioredis.RedisCluster | None:
    if not settings.REDIS_URL:
        return None
    if is_cluster_url(settings.REDIS_URL):
        # Per node, the same bound as the single node's blocking pool.
        return async_cluster_client(
            settings.REDIS_URL,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            health_check_interval=30,
        )
    # A blocking pool: past its size a request waits briefly for a connection instead of
    # failing (the default pool raises at 100 connections, which a fail-closed budget turns
    # into refusals under load).
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        timeout=1.0,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


class ConfigVersionPoller:
    """The fallback channel of configuration changes: every ``interval`` seconds, off the
    request path, compare cached tenants' ``config_version`` with the database and drop the
    stale snapshots.

    Redis generations carry changes within ``CONFIG_CACHE_SECONDS``; this catches the change
    whose publication to Redis was lost, and is the only channel while Redis is unreadable
    (or absent: then the in-process generation knows only this process's own changes). So:
    while Redis is readable, each round reads the next ``slice_size`` tenants of a rotation
    (every cached tenant within ``ceil(cached / slice_size)`` rounds); otherwise every cached
    tenant, every round. Reading 10,000 versions a second cost each worker 0.19 to 0.48 s of
    a second (docs/decisions.md).
    """

    def __init__(
        self,
        cache: ConfigCache,
        db: DatabaseRunner,
        interval: float,
        *,
        generations: GenerationSource,
        slice_size: int,
    ) -> None:
        self._cache, self._db, self._interval = cache, db, interval
        self._generations = generations
        self._slice = max(1, slice_size)
        # How long the round waits for Redis to answer before it counts as unreadable.
        self._probe_timeout = min(0.5, interval / 2)
        self._task: asyncio.Task | None = None

    def ensure_started(self) -> None:
        if self._task is None or self._task.done():
            # Started by whichever request comes first: its lines must not name that request.
            self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.poll_once()

    async def poll_once(self) -> list[str]:
        """One round; returns the tenants whose version it read (none if the read failed)."""
        every = not await self._generations.readable(self._probe_timeout)
        tenant_ids = self._cache.tenants_to_check(None if every else self._slice)
        if not tenant_ids:
            return []
        try:
            # While Redis answers, also every tenant changed in the last minute: a lost
            # publication arrives within a poll; the slice catches what commits later still.
            changed_within = 0 if every else CHANGE_LOOKBACK_SECONDS
            versions = await self._db.run(tenant_config_versions_load, tenant_ids, changed_within)
        except Exception:
            logger.warning("configuration versions could not be read; retrying")
            return []
        for tenant_id, version in versions:
            self._cache.tenant_drop_if_stale(tenant_id, version)
        return tenant_ids

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
