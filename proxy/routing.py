"""Model name → ordered upstream targets (SPEC 3.6): alias, explicit route, then family."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from core.errors import GatewayError
from proxy.config_snapshot import ProviderEntry, TenantConfig

# Prefix → provider kinds that serve the family, preferred first. An Azure- or proxy-only
# tenant still routes gpt-* without declaring patterns (docs/decisions.md).
FAMILIES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("gpt-", "o1", "o3", "o4", "text-embedding-"), ("openai", "azure_openai", "openai_compatible")),
    (("claude-",), ("anthropic",)),
    (("gemini-",), ("gemini",)),
    (("command-", "embed-"), ("cohere",)),
    (("mistral-", "codestral-", "ministral-"), ("mistral",)),
)


@dataclass(frozen=True, slots=True)
class Target:
    provider: ProviderEntry
    model: str


def family_kinds(model: str) -> tuple[str, ...]:
    for prefixes, kinds in FAMILIES:
        if model.startswith(prefixes):
            return kinds
    return ()


def model_not_found(model: str) -> GatewayError:
    return GatewayError(404, "model_not_found", f"no provider serves the model {model[:200]!r}")


def route_resolve(config: TenantConfig, model: str) -> tuple[list[Target], str]:
    """The targets to try in order, and how they were found: ``alias``, ``route`` (a
    provider's own pattern) or ``family`` (the name's prefix alone)."""
    alias = config.aliases.get(model)
    if alias is not None:
        targets = [Target(config.providers[pid], m) for pid, m in alias if pid in config.providers]
        if not targets:
            raise model_not_found(model)
        return targets, "alias"
    for provider in config.providers_ordered:
        if any(fnmatchcase(model, pattern) for pattern in provider.models):
            return [Target(provider, model)], "route"
    for kind in family_kinds(model):
        for provider in config.providers_ordered:
            if provider.kind == kind:
                return [Target(provider, model)], "family"
    raise model_not_found(model)


def concrete_model_names(config: TenantConfig) -> list[str]:
    """Aliases and the providers' non-glob model names, for ``GET /v1/models``."""
    names = dict.fromkeys(config.aliases)
    for provider in config.providers_ordered:
        for pattern in provider.models:
            if not any(ch in pattern for ch in "*?["):
                names.setdefault(pattern)
    return list(names)
