from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The proxy pipeline holds no models; it is an installed app so that its cache hears of
    every configuration write (:mod:`proxy.config_invalidation`) in every process, the
    management side's included."""

    name = "proxy"
    label = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        # Django's documented place for connecting receivers: the models they name are not
        # importable before the app registry is ready, so this import cannot move up.
        from proxy import config_invalidation  # noqa: F401
