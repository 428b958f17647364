"""The gateway's Prometheus metrics (SPEC 8), counted where a request's record is finalised.

Every gateway process of a host writes its values into ``PROMETHEUS_MULTIPROC_DIR`` (one
memory-mapped file per process and metric type, prometheus-client's multiprocess mode), and
``GET /metrics`` on any of them sums them all (``proxy/metrics_endpoint.py``). Without that
directory, as under ``make run``'s single process, the values live in this process only.

A request only adds to plain counters of its label set in this process
(:func:`request_count`: a dictionary lookup and a few additions); once a second, off the
request path, :class:`MetricsFlusher` writes what accumulated into prometheus-client's values
(a lock and a file write each: too much to pay per request, ``docs/performance.md`` →
Decisions). So a scrape sees a request at most a second after its
answer, and a worker killed outright loses at most its last second of counts; a worker that
stops cleanly flushes first.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from bisect import bisect_left
from typing import Any

from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from forensics.recorder import RecordWriter
from proxy.request_context import RequestContext

logger = logging.getLogger(__name__)
REGISTRY = CollectorRegistry(auto_describe=True)
# Seconds. Upstream calls of a language model take from milliseconds (a cache, an embedding)
# to minutes (a long stream), so the buckets go further than prometheus-client's default 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
UPSTREAM_ERROR_CODES = frozenset({"upstream_error", "upstream_timeout"})
# How often the counts of this process are written out, and the record writer's queue sampled.
FLUSH_SECONDS = 1.0
# The ``tenant`` label of the tenants a process counts past ``METRICS_MAX_TENANTS``.
OTHER_TENANTS = "_other"

REQUESTS = Counter(
    "aidgate_requests",
    "Proxied requests by tenant, endpoint, HTTP status and reason (ok, or the error's reason).",
    ["tenant", "endpoint", "status", "reason"],
    registry=REGISTRY,
)
TOKENS = Counter(
    "aidgate_tokens",
    "Tokens of proxied requests by tenant, endpoint and kind (prompt or completion), as recorded.",
    ["tenant", "endpoint", "kind"],
    registry=REGISTRY,
)
COST = Counter(
    "aidgate_cost_usd",
    "Cost in US dollars of proxied requests by tenant and endpoint, by the tenant's price table.",
    ["tenant", "endpoint"],
    registry=REGISTRY,
)
UNPRICED = Counter(
    "aidgate_unpriced_requests",
    "Proxied requests by tenant and endpoint whose model had no price: their cost is unknown, not "
    "zero, and aidgate_cost_usd leaves them out.",
    ["tenant", "endpoint"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "aidgate_request_duration_seconds",
    "Time from a request's arrival to its record, by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_LATENCY = Histogram(
    "aidgate_upstream_duration_seconds",
    "Time the provider took to answer (to the first byte of a stream), by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "aidgate_upstream_errors",
    "Requests that ended on a provider's failure, by provider id and reason.",
    ["provider", "reason"],
    registry=REGISTRY,
)
RECORD_QUEUE = Gauge(
    "aidgate_record_writer_queue",
    "Forensic records waiting for their commit (sampled every second, summed over live processes).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)


class _Timings:
    """Observations of one histogram child since the last flush: counts per bucket and sum."""

    __slots__ = ("child", "counts", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0

    def add(self, seconds: float) -> None:
        # bisect_left: the first bucket whose bound is >= the value, as "le" means.
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def flush(self) -> None:
        # The child's own values, a bucket each (not cumulative) and the sum: what observe()
        # writes, once for many observations. tests/proxy/test_metrics.py compares the result.
        for index, count in enumerate(self.counts):
            if count:
                self.child._buckets[index].inc(count)
                self.counts[index] = 0
        self.child._sum.inc(self.total)
        self.total = 0.0


class _Tally:
    """What one label set (tenant, endpoint, status, reason) counted since the last flush."""

    __slots__ = (
        "children", "completion_tokens", "cost", "latency", "prompt_tokens", "requests", "unpriced",
        "upstream_latency",
    )  # fmt: skip

    def __init__(self, tenant: str, endpoint: str, status: int, reason: str) -> None:
        self.children = (
            REQUESTS.labels(tenant, endpoint, str(status), reason),
            TOKENS.labels(tenant, endpoint, "prompt"),
            TOKENS.labels(tenant, endpoint, "completion"),
            COST.labels(tenant, endpoint),
            UNPRICED.labels(tenant, endpoint),
        )
        self.requests = self.prompt_tokens = self.completion_tokens = self.unpriced = 0
        self.cost = 0.0
        self.latency = _timings_of(LATENCY, endpoint)
        self.upstream_latency = _timings_of(UPSTREAM_LATENCY, endpoint)

    def flush(self) -> None:
        requests, prompt, completion, cost, unpriced = self.children
        requests.inc(self.requests)
        if self.prompt_tokens:
            prompt.inc(self.prompt_tokens)
        if self.completion_tokens:
            completion.inc(self.completion_tokens)
        if self.cost:
            cost.inc(self.cost)
        if self.unpriced:
            unpriced.inc(self.unpriced)
        self.requests = self.prompt_tokens = self.completion_tokens = self.unpriced = 0
        self.cost = 0.0


class TenantLabels:
    """Which tenants get a ``tenant`` label of their own in this process: the first ``limit``
    it counts. Later ones are counted under ``OTHER_TENANTS``, so that the series a process
    writes (and a scrape reads) stay bounded when the platform has tens of thousands of
    tenants; a tenant keeps its label for the life of the process, so no series ever moves.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._named: set[str] = set()

    def label(self, tenant_id: str | None) -> str:
        if not tenant_id:
            return ""
        if tenant_id in self._named:
            return tenant_id
        if self._limit is None:
            self._limit = max(0, settings.METRICS_MAX_TENANTS)
        if len(self._named) < self._limit:
            self._named.add(tenant_id)
            return tenant_id
        return OTHER_TENANTS


tenant_labels = TenantLabels()
_tallies: dict[tuple[str | None, str, int, str | None], _Tally] = {}
_timings: dict[tuple[int, str], _Timings] = {}
_dirty: set[_Tally] = set()


def _timings_of(histogram: Histogram, endpoint: str) -> _Timings:
    key = (id(histogram), endpoint)
    timings = _timings.get(key)
    if timings is None:
        timings = _timings[key] = _Timings(histogram.labels(endpoint))
    return timings


def request_count(ctx: RequestContext) -> None:
    """Count one finished request, from what its record says; called once per record."""
    key = (ctx.tenant_id, ctx.endpoint, ctx.status_code, ctx.error_reason)
    tally = _tallies.get(key)
    if tally is None:
        tally = _tally_new(key, ctx)
    tally.requests += 1
    tally.prompt_tokens += ctx.prompt_tokens
    tally.completion_tokens += ctx.completion_tokens
    if ctx.cost_usd is None:  # a model without a price (providers.pricing)
        tally.unpriced += 1
    else:
        tally.cost += ctx.cost_usd
    tally.latency.add(ctx.latency_ms() / 1000.0)
    if ctx.upstream_latency_ms is not None:
        tally.upstream_latency.add(ctx.upstream_latency_ms / 1000.0)
    _dirty.add(tally)
    if ctx.error_code in UPSTREAM_ERROR_CODES:  # rare: written at once
        UPSTREAM_ERRORS.labels(ctx.provider_id or "", ctx.error_reason or ctx.error_code).inc()


def _tally_new(key: tuple[str | None, str, int, str | None], ctx: RequestContext) -> _Tally:
    """The tally of a label set seen for the first time; a tenant past the bound shares the
    tally of ``OTHER_TENANTS`` and is looked up again each time (a miss, then a set lookup),
    so this process's tallies stay as bounded as its series."""
    label = tenant_labels.label(ctx.tenant_id)
    if label == OTHER_TENANTS:
        key = (OTHER_TENANTS, *key[1:])
        tally = _tallies.get(key)
        if tally is not None:
            return tally
    tally = _tallies[key] = _Tally(label, ctx.endpoint, ctx.status_code, ctx.error_reason or "ok")
    return tally


def metrics_flush() -> None:
    """Write what this process counted since the last flush into prometheus-client's values."""
    global _dirty
    dirty, _dirty = _dirty, set()
    for tally in dirty:
        tally.flush()
    for timings in _timings.values():
        if timings.total or any(timings.counts):
            timings.flush()


class MetricsFlusher:
    """Every second, off the request path: this process's counts, and its record-writer queue."""

    def __init__(self, records: RecordWriter) -> None:
        self._records = records
        self._task: asyncio.Task | None = None

    def ensure_started(self) -> None:
        if self._task is None:
            # Started by whichever request comes first: its lines must not name that request.
            self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

    def stop(self) -> None:
        """Stop, writing out what is still counted (a clean shutdown loses nothing)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        metrics_flush()
        RECORD_QUEUE.set(0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                metrics_flush()
                RECORD_QUEUE.set(self._records.depth)
            except Exception:
                logger.exception("metrics could not be written")
