"""One module per provider kind, each implementing :class:`proxy.providers.base.ProviderAdapter`."""

from __future__ import annotations

from proxy.providers.anthropic import AnthropicAdapter
from proxy.providers.base import ProviderAdapter
from proxy.providers.cohere import CohereAdapter
from proxy.providers.gemini import GeminiAdapter
from proxy.providers.mock import MockAdapter
from proxy.providers.openai_like import AzureOpenAIAdapter, MistralAdapter, OpenAIAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    "openai": OpenAIAdapter(),
    "openai_compatible": OpenAIAdapter(),
    "mistral": MistralAdapter(),
    "azure_openai": AzureOpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "cohere": CohereAdapter(),
    "mock": MockAdapter(),
}


def adapter_for(kind: str) -> ProviderAdapter | None:
    return ADAPTERS.get(kind)
