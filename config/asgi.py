"""ASGI entry point: the lean proxy pipeline for the proxy paths, Django for everything else.

The proxy paths never pay for Django's request machinery (its cost: docs/performance-log.md,
2026-11-23 07:06).
"""

from __future__ import annotations

import os
from typing import Any

from config.settings import settings_module_default
from core.compiled import extensions_check

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module_default())
extensions_check()  # before any hot module is imported: never serve code older than its source

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

from config.django_bodies import BoundedBodyApplication  # noqa: E402
from forensics.background_sealer import BackgroundSealer  # noqa: E402
from providers.pricing import list_prices_load  # noqa: E402
from proxy.asgi_app import ProxyApplication, proxy_path_match  # noqa: E402
from proxy.health import HEALTH_PATHS, health_serve  # noqa: E402
from proxy.metrics_endpoint import METRICS_PATH, metrics_serve  # noqa: E402


class GatewayApplication:
    """Routes by path; answers ASGI lifespan so workers close their pools cleanly."""

    def __init__(self) -> None:
        # Django gets whole bodies within MAX_REQUEST_BYTES, chunked or not (SPEC 4).
        self.django = BoundedBodyApplication(get_asgi_application(), limit=settings.MAX_REQUEST_BYTES)
        self.proxy = ProxyApplication()
        self._sealer = None

    def _sealer_start(self) -> None:
        if settings.AUDIT_SEAL_IN_PROCESS:
            self._sealer = BackgroundSealer(settings.AUDIT_SEAL_INTERVAL_SECONDS)
            self._sealer.start()

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        match = proxy_path_match(scope["path"]) if scope["type"] == "http" else None
        if match is not None:
            await self.proxy.serve(match, scope, receive, send)
        elif scope["type"] == "http" and scope["path"] in HEALTH_PATHS:
            await health_serve(scope, self.proxy.runtime, send)
        elif scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await metrics_serve(scope, self.proxy.runtime, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.django(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                list_prices_load()  # the first priced answer must not pay for reading the list
                self._sealer_start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sealer is not None:
                    self._sealer.stop()
                await self.proxy.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


application = GatewayApplication()
