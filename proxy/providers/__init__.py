"""One module per provider kind, each implementing :class:`proxy.providers.base.ProviderAdapter`."""

from __future__ import annotations

from proxy.providers.base import ProviderAdapter
from proxy.providers.mock import MockAdapter
from proxy.providers.openai_like import AzureOpenAIAdapter, MistralAdapter, OpenAIAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    "openai": OpenAIAdapter(),
    "openai_compatible": OpenAIAdapter(),
    "mistral": MistralAdapter(),
    "azure_openai": AzureOpenAIAdapter(),
    "mock": MockAdapter(),
}


def adapter_for(kind: str) -> ProviderAdapter | None:
    return ADAPTERS.get(kind)
