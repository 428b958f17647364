"""The gateway's Prometheus metrics (SPEC 8), counted where a request's record is finalised.

Every gateway process of a host writes its values into ``PROMETHEUS_MULTIPROC_DIR`` (one
memory-mapped file per process and metric type, prometheus-client's multiprocess mode), and
``GET /metrics`` on any of them sums them all (``proxy/metrics_endpoint.py``). Without that
directory, as under ``make run``'s single process, the values live in this process only.

The hot path pays for one dictionary lookup of a label set's children and a handful of
value writes per request: ``labels()`` itself, which takes a lock and builds the label
tuple, runs once per label set (what it costs: ``docs/performance.md`` → Decisions).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from forensics.recorder import RecordWriter
from proxy.request_context import RequestContext

logger = logging.getLogger(__name__)
REGISTRY = CollectorRegistry(auto_describe=True)
# Seconds. Upstream calls of a language model take from milliseconds (a cache, an embedding)
# to minutes (a long stream), so the buckets go further than prometheus-client's default 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
UPSTREAM_ERROR_CODES = frozenset({"upstream_error", "upstream_timeout"})
# The record writer's queue is sampled this often, off the request path.
QUEUE_SAMPLE_SECONDS = 1.0
# Label sets remembered (tenant x endpoint x status x reason); past this the children are
# looked up through labels() on every request, which stays correct, only slower.
MAX_REMEMBERED_LABEL_SETS = 10_000

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


class _Children:
    """The counters of one (tenant, endpoint, status, reason), resolved once."""

    __slots__ = ("completion_tokens", "cost", "latency", "prompt_tokens", "requests", "upstream_latency")

    def __init__(self, tenant: str, endpoint: str, status: int, reason: str) -> None:
        self.requests = REQUESTS.labels(tenant, endpoint, str(status), reason)
        self.prompt_tokens = TOKENS.labels(tenant, endpoint, "prompt")
        self.completion_tokens = TOKENS.labels(tenant, endpoint, "completion")
        self.cost = COST.labels(tenant, endpoint)
        self.latency = LATENCY.labels(endpoint)
        self.upstream_latency = UPSTREAM_LATENCY.labels(endpoint)


_children: dict[tuple[str, str, int, str | None], _Children] = {}


def request_count(ctx: RequestContext) -> None:
    """Count one finished request, from what its record says; called once per record."""
    key = (ctx.tenant_id or "", ctx.endpoint, ctx.status_code, ctx.error_reason)
    children = _children.get(key)
    if children is None:
        children = _Children(key[0], ctx.endpoint, ctx.status_code, ctx.error_reason or "ok")
        if len(_children) < MAX_REMEMBERED_LABEL_SETS:
            _children[key] = children
    children.requests.inc()
    children.latency.observe(ctx.latency_ms() / 1000.0)
    if ctx.upstream_latency_ms is not None:
        children.upstream_latency.observe(ctx.upstream_latency_ms / 1000.0)
    if ctx.prompt_tokens:
        children.prompt_tokens.inc(ctx.prompt_tokens)
    if ctx.completion_tokens:
        children.completion_tokens.inc(ctx.completion_tokens)
    if ctx.cost_usd:
        children.cost.inc(ctx.cost_usd)
    if ctx.error_code in UPSTREAM_ERROR_CODES:
        UPSTREAM_ERRORS.labels(ctx.provider_id or "", ctx.error_reason or ctx.error_code).inc()


class RecordQueueSampler:
    """Writes this process's record-writer queue into its gauge every second.

    Sampled rather than counted on every submit and commit: the queue is read by a scrape
    every few seconds at most, and the request path pays nothing for it.
    """

    def __init__(self, records: RecordWriter) -> None:
        self._records = records
        self._task: asyncio.Task | None = None

    def ensure_started(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                RECORD_QUEUE.set(self._records.depth)
            await asyncio.sleep(QUEUE_SAMPLE_SECONDS)
