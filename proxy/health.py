"""Liveness and readiness for load balancers and orchestrators (SPEC 8).

``GET /healthz`` answers 200 while the process serves: it touches nothing, so a slow database
never gets a live process restarted. ``GET /readyz`` answers 200 only when this process can
serve a proxied request to the end, record included: the database answers, Redis answers
(when configured), and the record writer is not waiting out a failing database; else 503 naming what failed. Both
are served beside the proxy, without Django's request machinery, and need no credential.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.db import connections

from proxy.http_io import Send, send_json
from proxy.runtime import GatewayRuntime

logger = logging.getLogger(__name__)
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
# A dependency that takes longer than this to answer is not ready: a load balancer's probe
# has a timeout of its own, typically a few seconds.
CHECK_SECONDS = 2.0
NO_STORE = {"Cache-Control": "no-store"}


def _database_ping() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


async def _check(name: str, probe: Any) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, timeout=CHECK_SECONDS)
    except TimeoutError:
        return name, "timeout"
    except Exception as exc:
        # The kind of failure only: a driver's message may carry a host name or a user.
        logger.warning("readiness: %s failed: %s", name, type(exc).__name__)
        return name, type(exc).__name__
    return name, "ok"


class SharedCheck:
    """Concurrent ``/readyz`` requests of a process share the check in flight.

    The probe needs no credential: without this, anyone could queue database pings on the
    few threads that also load every tenant's configuration. One check at a time, each at
    most ``CHECK_SECONDS`` per dependency, whatever the request rate.
    """

    def __init__(self) -> None:
        self._inflight: asyncio.Future[dict[str, str]] | None = None

    async def run(self, runtime: GatewayRuntime) -> dict[str, str]:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(readiness(runtime))
            self._inflight.add_done_callback(self._forget)
        return await asyncio.shield(self._inflight)

    def _forget(self, future: asyncio.Future) -> None:
        if self._inflight is future:
            self._inflight = None


_shared_check = SharedCheck()


async def readiness(runtime: GatewayRuntime) -> dict[str, str]:
    """``{dependency: "ok" | what failed}``: the database, Redis when configured, the writer."""
    probes = [_check("database", runtime.db.run(_database_ping))]
    if runtime.redis is not None:
        probes.append(_check("redis", runtime.redis.ping()))
    checks = dict(await asyncio.gather(*probes))
    # Idle, the writer needs nothing the database check has not covered; busy waiting out a
    # failing database, every request it holds is being delayed.
    retrying = runtime.records.retrying
    checks["record_writer"] = "ok" if retrying is None else f"retrying after {retrying}"
    return checks


async def health_serve(scope: dict[str, Any], runtime: GatewayRuntime, send: Send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        error = {"code": "invalid_request", "reason": "method_not_allowed", "message": "use GET on this path"}
        body = {"error": {**error, "type": "invalid_request_error"}}
        await send_json(send, 405, body, {**NO_STORE, "Allow": "GET"})
        return
    if scope["path"] == "/healthz":
        await send_json(send, 200, {"status": "ok"}, NO_STORE)
        return
    checks = await _shared_check.run(runtime)
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        body = {"status": "unavailable", "failed": failed, "checks": checks}
        await send_json(send, 503, body, NO_STORE)
        return
    await send_json(send, 200, {"status": "ok", "checks": checks}, NO_STORE)
