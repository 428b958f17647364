"""How the console writes numbers (console/formatting.py and its template filters)."""

from __future__ import annotations

from decimal import Decimal

from django.template import Context, Template

from console.formatting import exact_number_text, ms_text, number_text, percent_text, usd_text


def test_it_groups_thousands():
    assert [number_text(v) for v in (0, 7, 1096, 796713, 1_234_567_890)] == [
        "0", "7", "1,096", "796,713", "1,234,567,890",
    ]  # fmt: skip
    assert number_text(1234.5678, 2) == "1,234.57"
    assert number_text(None) == "—"


def test_it_writes_costs_with_sensible_decimals():
    assert usd_text(Decimal("0")) == "$0.00"
    assert usd_text(Decimal("0.00421")) == "$0.0042"
    assert usd_text(0.5565) == "$0.5565"
    assert usd_text(Decimal("1234.5")) == "$1,234.50"
    assert usd_text(1_000_000) == "$1,000,000.00"
    assert usd_text(None) == "—"


def test_it_writes_latencies_and_shares():
    assert ms_text(1250.4) == "1,250 ms"
    assert ms_text(None) == "—"
    assert percent_text(1_500, 2_000) == "75%"
    assert percent_text(3, 0) == "0%"


def test_the_template_filters_say_the_same():
    template = Template("{% load console_format %}{{ n|number }} {{ c|usd }} {{ l|ms }}")
    assert template.render(Context({"n": 796713, "c": Decimal("12.3456"), "l": 999})) == "796,713 $12.35 999 ms"


def test_a_records_own_values_keep_every_digit():
    assert exact_number_text(1234.567) == "1,234.567"
    assert exact_number_text(Decimal("0.00012345")) == "0.00012345"
    assert exact_number_text(796713) == "796,713"
