from __future__ import annotations

from django.apps import AppConfig


class ProxyConfig(AppConfig):
    name = "proxy"
    verbose_name = "Providers and routing"

    def ready(self) -> None:
        from proxy import config_invalidation  # noqa: F401  (connects the change receivers)
