"""The proxy as a plain ASGI application, beside Django (no Django request machinery here)."""

from __future__ import annotations

import re
from typing import Any

from core.errors import error_body
from core.log_json import request_logged
from forensics.models import RECORD_ENDPOINTS
from proxy.dialects.registry import DIALECTS, dialect_for
from proxy.http_io import Receive, Send, headers_of, query_of, send_json
from proxy.pipeline import request_handle
from proxy.request_context import RequestContext
from proxy.runtime import GatewayRuntime

# path → (the record's endpoint, method); each dialect serves /v1/{its endpoint} (SPEC 3.8, 3.9).
ENDPOINTS = {
    "chat/completions": ("chat", "POST"),
    "embeddings": ("embeddings", "POST"),
    "models": ("models", "GET"),
    **{endpoint: (endpoint, "POST") for endpoint in DIALECTS},
}
# A path whose record names an endpoint the rest of the gateway does not know (log filters,
# usage breakdowns, the console) would be served but hidden: refuse to start instead.
if {endpoint for endpoint, _method in ENDPOINTS.values()} != set(RECORD_ENDPOINTS):
    raise RuntimeError(
        f"the proxy serves {sorted(e for e, _m in ENDPOINTS.values())} but a record's endpoint is one of "
        f"{sorted(RECORD_ENDPOINTS)} (forensics.models.RECORD_ENDPOINTS)"
    )
# /v1/{endpoint} or /apps/{slug}/v1/{endpoint}
PROXY_PATH = re.compile(
    rf"^(?:/apps/(?P<slug>[^/]{{1,64}}))?/v1/(?P<endpoint>{'|'.join(map(re.escape, ENDPOINTS))})/?$"
)


def proxy_path_match(path: str) -> re.Match[str] | None:
    return PROXY_PATH.match(path)


class ProxyApplication:
    def __init__(self) -> None:
        self._runtime: GatewayRuntime | None = None

    @property
    def runtime(self) -> GatewayRuntime:
        # Created on first use, inside the serving event loop (its clients bind to that loop).
        if self._runtime is None:
            self._runtime = GatewayRuntime()
        return self._runtime

    async def shutdown(self) -> None:
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None

    async def serve(self, match: re.Match[str], scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """Serve a request whose path ``config.asgi`` has matched already (once is enough)."""
        endpoint, method = ENDPOINTS[match["endpoint"]]
        client = scope.get("client")
        ctx = RequestContext(
            method=scope["method"],
            path=scope["path"],
            endpoint=endpoint,
            app_slug=match["slug"],
            headers=headers_of(scope),
            query=query_of(scope),
            client_ip=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
        )
        request_logged.set(ctx)
        if scope["method"] != method:
            message = f"use {method} on this path"
            dialect = dialect_for(endpoint)
            if dialect is not None:
                body = dialect.error_body(405, "invalid_request", message, "method_not_allowed", ctx.id)
            else:
                body = error_body(405, "invalid_request", message, "method_not_allowed", ctx.id)
            await send_json(send, 405, body, {"X-Request-ID": ctx.id, "Allow": method})
            return
        runtime = self.runtime
        runtime.config_poller.ensure_started()
        runtime.metrics.ensure_started()
        await request_handle(ctx, receive, send, runtime)
