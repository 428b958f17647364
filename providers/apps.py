from __future__ import annotations

from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    """Upstream connections, model aliases and the price table.

    The label stays ``proxy``: these models were first declared in the proxy package, and the
    label names their tables and migrations, which a rename would have to rewrite.
    """

    name = "providers"
    label = "proxy"
    verbose_name = "Providers and routing"
