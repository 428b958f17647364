"""Provider kinds and their public endpoints, as plain data.

The proxy's adapters read the default base URLs on every upstream call; this module holds
no ORM import, so the hot path can use it without loading the models it never touches.
"""

from __future__ import annotations

# kind -> label shown in the console, in the order the console lists them.
PROVIDER_KINDS: dict[str, str] = {
    "openai": "OpenAI",
    "openai_compatible": "OpenAI-compatible",
    "azure_openai": "Azure OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Google Gemini",
    "cohere": "Cohere",
    "mistral": "Mistral",
    "mock": "Mock (local, deterministic)",
}

# The kinds without a public endpoint: a provider of one of them must name its own base URL.
KINDS_WITHOUT_DEFAULT_URL = frozenset({"openai_compatible", "azure_openai"})

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "mistral": "https://api.mistral.ai/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "cohere": "https://api.cohere.com",
}
