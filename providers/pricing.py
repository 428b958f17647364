"""What a request costs: the tenant's own prices over the published list prices of genai-prices.

The one place the price rule lives, as plain data and functions (no ORM), so the proxy's hot
path can call it. A model is priced by, in order:

1. the tenant's price table (``ModelPrice`` rows, passed in as :data:`Override` tuples): the
   longest fnmatch pattern that matches the model name wins;
2. the list price of genai-prices (a package pinned in the lock file, refreshed by
   ``make lock``), looked up by provider kind and model name;
3. nothing: the model is *unpriced*, and its cost is ``None``, never 0.

Cached prompt tokens (OpenAI's ``prompt_tokens_details.cached_tokens``, Anthropic's
``cache_read_input_tokens``) are priced at the cached-input rate; the other prompt tokens at
the input rate. The package's data is read once per process; each (kind, model) pair is
looked up once and remembered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from importlib.metadata import version
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import TieredPrices

# The genai-prices provider of each provider kind. ``openai_compatible`` serves models of any
# maker, so its models are matched by name across every provider the package knows.
GENAI_PROVIDER_OF_KIND: dict[str, str | None] = {
    "openai": "openai",
    "azure_openai": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "cohere": "cohere",
    "mistral": "mistral",
    "openai_compatible": None,
}
# The in-process fake provider costs nothing: its models are priced at zero, not unpriced.
FREE_KINDS = frozenset({"mock"})
# (model_pattern, input, cached input or None, output): USD per million tokens, one row of
# a tenant's price table. A row without a cached-input price prices cached tokens as input.
Override = tuple[str, float, float | None, float]

LOOKUP_LIMIT = 4096  # distinct (kind, model) pairs remembered; model names come from clients


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens."""

    input: float
    cached_input: float
    output: float


@dataclass(frozen=True, slots=True)
class Price:
    """The rates of a model, and richer rates above prompt-size thresholds (long-context tiers):
    ``tiers`` holds ``(threshold, rates)`` ascending; a prompt over a threshold takes its rates."""

    rates: Rates
    source: str  # "tenant" or "list"
    tiers: tuple[tuple[int, Rates], ...] = ()

    def cost(self, *, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        rates = self.rates
        for threshold, tier_rates in reversed(self.tiers):
            if prompt_tokens > threshold:
                rates = tier_rates
                break
        cached = min(max(cached_tokens, 0), prompt_tokens)
        return (
            (prompt_tokens - cached) * rates.input + cached * rates.cached_input + completion_tokens * rates.output
        ) / 1_000_000


FREE = Price(Rates(0.0, 0.0, 0.0), source="list")

_list_prices: dict[tuple[str, str], Price | None] = {}


def list_prices_load() -> None:
    """Read the package's price data now (about half a second, once per process), so that no
    request pays for it: the gateway calls this before it serves."""
    data_snapshot.get_snapshot()


def list_prices_version() -> str:
    """The genai-prices release the list prices come from (shown by docs and the console)."""
    return version("genai-prices")


def override_match(overrides: tuple[Override, ...], model: str) -> Price | None:
    """The tenant's own price of ``model``: its longest matching pattern, or None."""
    best: Override | None = None
    for row in overrides:
        if fnmatchcase(model, row[0]) and (best is None or len(row[0]) > len(best[0])):
            best = row
    if best is None:
        return None
    _, input_price, cached_price, output_price = best
    cached = input_price if cached_price is None else cached_price
    return Price(Rates(input_price, cached, output_price), source="tenant")


def list_price(kind: str, model: str) -> Price | None:
    """The published price of ``model`` served by a provider of ``kind``, or None (unpriced)."""
    key = (kind, model)
    try:
        return _list_prices[key]
    except KeyError:
        pass
    price = FREE if kind in FREE_KINDS else _genai_price(kind, model)
    if len(_list_prices) >= LOOKUP_LIMIT:
        # The oldest name goes: a client sending many made-up names must not leave every
        # later model unremembered (and searched for on each of its requests) for good.
        del _list_prices[next(iter(_list_prices))]
    _list_prices[key] = price
    return price


def price_of(overrides: tuple[Override, ...], kind: str | None, model: str) -> Price | None:
    """The price rule: the tenant's table first, then the list price; None when unpriced."""
    return override_match(overrides, model) or list_price(kind or "openai_compatible", model)


def _genai_price(kind: str, model: str) -> Price | None:
    snapshot = data_snapshot.get_snapshot()
    provider_id = GENAI_PROVIDER_OF_KIND.get(kind)
    try:
        _, info = snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        if provider_id is None:
            return None
        # A name the kind's own list does not know (a fine-tune, a deployment named after the
        # model it serves) may still be a model another maker publishes.
        try:
            _, info = snapshot.find_provider_model(model, None, None, None)
        except LookupError:
            return None
    listed = info.get_prices(datetime.now(UTC))
    input_price = getattr(listed, "input_mtok", None)
    output_price = getattr(listed, "output_mtok", None)
    if input_price is None and output_price is None:
        return None  # priced by something other than tokens (images, requests): not ours to guess
    cached_price = getattr(listed, "cache_read_mtok", None)
    cached_price = input_price if cached_price is None else cached_price
    thresholds = sorted({tier.start for p in (input_price, cached_price, output_price) for tier in _tiers(p)})
    return Price(
        Rates(_base(input_price), _base(cached_price), _base(output_price)),
        source="list",
        tiers=tuple((t, Rates(_at(input_price, t), _at(cached_price, t), _at(output_price, t))) for t in thresholds),
    )


def _tiers(price: Any) -> list[Any]:
    return list(price.tiers) if isinstance(price, TieredPrices) else []


def _base(price: Decimal | TieredPrices | None) -> float:
    if price is None:
        return 0.0
    return float(price.base if isinstance(price, TieredPrices) else price)


def _at(price: Decimal | TieredPrices | None, threshold: int) -> float:
    """The rate of ``price`` for a prompt just over ``threshold`` tokens."""
    if not isinstance(price, TieredPrices):
        return _base(price)
    rate = price.base
    for tier in price.tiers:
        if threshold >= tier.start:
            rate = tier.price
    return float(rate)
