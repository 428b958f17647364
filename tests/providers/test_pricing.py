"""The price rule of providers.pricing: the tenant's table over genai-prices' list prices,
cached prompt tokens at the cached rate, long-context tiers, and None (unpriced) rather than 0.

genai-prices' own ``calc_price`` is the oracle: what it says a usage costs is what the
gateway must record for it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from providers.pricing import list_price, price_of


def listed(model: str, provider_id: str, *, prompt: int, cached: int, completion: int) -> float:
    usage = Usage(input_tokens=prompt, cache_read_tokens=cached, output_tokens=completion)
    return float(calc_price(usage, model, provider_id=provider_id).total_price)


@pytest.mark.parametrize(
    ("kind", "model", "provider_id"),
    [
        ("openai", "gpt-5", "openai"),
        ("openai", "gpt-5-mini", "openai"),
        ("openai", "gpt-4o-mini-2024-07-18", "openai"),
        ("azure_openai", "gpt-5", "azure"),
        ("anthropic", "claude-sonnet-4-20250514", "anthropic"),
        ("gemini", "gemini-2.5-flash", "google"),
        ("mistral", "mistral-large-latest", "mistral"),
    ],
)
def test_it_prices_a_listed_model_as_genai_prices_does_cached_tokens_included(kind, model, provider_id):
    price = list_price(kind, model)

    assert price is not None
    assert price.source == "list"
    got = price.cost(prompt_tokens=10_000, cached_tokens=4_000, completion_tokens=2_000)
    assert got == pytest.approx(listed(model, provider_id, prompt=10_000, cached=4_000, completion=2_000), abs=1e-9)


def test_it_prices_gpt_5_cached_input_at_a_tenth_of_input():
    price = list_price("openai", "gpt-5")

    # 1.25 per million in, 0.125 cached, 10 out.
    assert price.cost(prompt_tokens=1_000_000, cached_tokens=0, completion_tokens=0) == pytest.approx(1.25)
    assert price.cost(prompt_tokens=1_000_000, cached_tokens=1_000_000, completion_tokens=0) == pytest.approx(0.125)
    assert price.cost(prompt_tokens=0, cached_tokens=0, completion_tokens=1_000_000) == pytest.approx(10)


def test_it_applies_the_long_context_tier_above_its_threshold():
    price = list_price("anthropic", "claude-sonnet-4-5")
    usage = {"prompt": 300_000, "cached": 100_000, "completion": 1_000}

    got = price.cost(prompt_tokens=300_000, cached_tokens=100_000, completion_tokens=1_000)
    assert got == pytest.approx(listed("claude-sonnet-4-5", "anthropic", **usage), abs=1e-9)
    below = price.cost(prompt_tokens=100_000, cached_tokens=0, completion_tokens=0)
    assert below == pytest.approx(listed("claude-sonnet-4-5", "anthropic", prompt=100_000, cached=0, completion=0))


def test_a_model_no_one_lists_is_unpriced_not_free():
    assert list_price("openai", "gpt-nobody-lists-this") is None
    assert list_price("openai_compatible", "my-own-llama-finetune") is None
    assert price_of((), "openai", "gpt-nobody-lists-this") is None


def test_an_openai_compatible_provider_finds_a_model_by_name():
    price = list_price("openai_compatible", "gpt-4o")

    assert price is not None
    assert price.cost(prompt_tokens=1_000_000, cached_tokens=0, completion_tokens=0) == pytest.approx(2.5)


def test_the_mock_provider_is_free_not_unpriced():
    price = list_price("mock", "mock-anything")

    assert price is not None
    assert price.cost(prompt_tokens=100, cached_tokens=0, completion_tokens=100) == 0


def test_the_tenants_price_wins_over_the_list_price():
    overrides = (("gpt-5*", 2.0, 0.5, 4.0),)

    price = price_of(overrides, "openai", "gpt-5")
    assert price.source == "tenant"
    assert price.cost(prompt_tokens=1_000_000, cached_tokens=400_000, completion_tokens=1_000_000) == pytest.approx(
        0.6 * 2.0 + 0.4 * 0.5 + 4.0
    )


def test_the_longest_matching_pattern_of_the_tenant_wins():
    overrides = (("gpt-*", 1.0, None, 1.0), ("gpt-5-mini*", 3.0, None, 3.0), ("gpt-5*", 2.0, None, 2.0))

    assert price_of(overrides, "openai", "gpt-5-mini").rates.input == 3.0
    assert price_of(overrides, "openai", "gpt-5").rates.input == 2.0
    assert price_of(overrides, "openai", "gpt-4o").rates.input == 1.0


def test_a_tenant_price_without_a_cached_rate_prices_cached_tokens_as_input():
    price = price_of((("house-model", 2.0, None, 0.0),), None, "house-model")

    assert price.cost(prompt_tokens=1_000_000, cached_tokens=1_000_000, completion_tokens=0) == pytest.approx(2.0)


def test_a_tenant_price_prices_a_model_no_one_lists():
    assert price_of((("house-*", 1.5, None, 3.0),), "openai_compatible", "house-7b") is not None
    assert Decimal(str(price_of((), "mock", "mock-1").rates.input)) == 0
