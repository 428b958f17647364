"""Which adapter speaks for each provider kind."""

from __future__ import annotations

from proxy.adapters.anthropic import AnthropicAdapter
from proxy.adapters.base import ProviderAdapter
from proxy.adapters.cohere import CohereAdapter
from proxy.adapters.gemini import GeminiAdapter
from proxy.adapters.mock import MockAdapter
from proxy.adapters.openai_like import AzureOpenAIAdapter, MistralAdapter, OpenAIAdapter

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
