"""``GET /metrics`` (SPEC 8): Prometheus text format, summed over the host's gateway processes.

Served beside ``/healthz`` and ``/readyz``, without Django's request machinery. With
``METRICS_TOKEN`` set it answers only ``Authorization: Bearer <METRICS_TOKEN>`` (compared in
constant time); unset, it is open, for a scraper on a private network.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from core.errors import unauthorized
from core.ids import new_id
from forensics.selectors import last_seal_at
from proxy.http_io import Send, encode_headers, headers_of, send_json
from proxy.metrics import REGISTRY
from proxy.runtime import GatewayRuntime

logger = logging.getLogger(__name__)
METRICS_PATH = "/metrics"
NO_STORE = {"Cache-Control": "no-store"}


class SealAgeCollector:
    """``aidgate_audit_seconds_since_last_seal``, read from the database at scrape time: it is
    the same for every process, so no process keeps it."""

    def collect(self) -> Any:
        try:
            sealed = last_seal_at()
        except DatabaseError as exc:
            logger.warning("metrics: the last seal could not be read: %s", type(exc).__name__)
            return
        if sealed is None:
            return  # nothing was ever sealed: no figure rather than a made-up one
        gauge = GaugeMetricFamily(
            "aidgate_audit_seconds_since_last_seal",
            "Seconds since a seal last extended any tenant's audit chain (none yet: no sample).",
        )
        gauge.add_metric([], max(0.0, time.time() - sealed.timestamp()))
        yield gauge


def exposition() -> bytes:
    """The text of a scrape: every process's values (or this one's alone), then the seal's age.
    Blocking (files and a query): run off the event loop."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        processes = CollectorRegistry()
        MultiProcessCollector(processes, path=settings.PROMETHEUS_MULTIPROC_DIR)
        text = generate_latest(processes)
    else:
        text = generate_latest(REGISTRY)
    seal = CollectorRegistry()
    seal.register(SealAgeCollector())
    return text + generate_latest(seal)


def token_accepted(headers: dict[str, str], token: str) -> bool:
    scheme, _, presented = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


async def metrics_serve(scope: dict[str, Any], runtime: GatewayRuntime, send: Send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        error = {"code": "invalid_request", "reason": "method_not_allowed", "message": "use GET on this path"}
        body = {"error": {**error, "type": "invalid_request_error", "request_id": None}}
        await send_json(send, 405, body, {**NO_STORE, "Allow": "GET"})
        return
    token = settings.METRICS_TOKEN
    if token and not token_accepted(headers_of(scope), token):
        request_id = new_id("req")
        error = unauthorized("invalid_metrics_token", "send Authorization: Bearer <METRICS_TOKEN>")
        headers = {**NO_STORE, "X-Request-ID": request_id, "WWW-Authenticate": "Bearer"}
        await send_json(send, 401, error.body(request_id), headers)
        return
    text = await runtime.db.run(exposition)
    headers = [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": [*headers, *encode_headers(NO_STORE)]})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else text})
