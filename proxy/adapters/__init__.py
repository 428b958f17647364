"""One module per provider kind, each implementing :class:`proxy.adapters.base.ProviderAdapter`;
:mod:`proxy.adapters.registry` maps a kind to its adapter."""
