"""The dashboard's server-rendered SVG charts."""

from __future__ import annotations

import re

from console.charts import Series, bar_list, column_chart, compact_number, nice_ceiling


def test_it_rounds_the_axis_up_to_a_nice_number():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 42, 180, 999)] == [1, 1, 5, 10, 10, 20, 50, 200, 1000]


def test_it_writes_short_axis_numbers():
    assert [compact_number(v) for v in (0, 7, 1234, 2_000_000, 0.125)] == ["0", "7", "1.2k", "2M", "0.12"]


def test_it_stacks_the_series_of_each_bucket():
    chart = column_chart(
        name="requests", labels=["10:00", "11:00", "12:00"],
        series=[Series("ok", "bar-ok", [1, 0, 4]), Series("errors", "bar-error", [1, 0, 0])],
    )  # fmt: skip
    svg = str(chart.svg)
    assert chart.total == 6
    assert not chart.empty
    assert re.findall(r'data-label="([^"]+)" data-total="([^"]+)" data-values="([^"]+)"', svg) == [
        ("10:00", "2", "1 1"), ("11:00", "0", "0 0"), ("12:00", "4", "4 0"),
    ]  # fmt: skip
    assert svg.count('class="bar-ok"') == 2  # no rectangle for an empty value
    assert svg.count('class="bar-error"') == 1
    assert "<title>12:00: ok: 4; errors: 0</title>" in svg
    assert chart.legend == [("ok", "bar-ok"), ("errors", "bar-error")]


def test_the_tallest_bucket_never_overflows_the_plot():
    chart = column_chart(name="t", labels=["a", "b"], series=[Series("s", "bar-ok", [3, 5])])
    heights = [float(h) for h in re.findall(r'class="bar-ok" x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"',
                                             str(chart.svg))]  # fmt: skip
    assert max(heights) <= 220 - 10 - 26


def test_an_empty_chart_says_so():
    assert column_chart(name="t", labels=["a"], series=[Series("s", "bar-ok", [0])]).empty
    assert bar_list(name="t", items=[]).empty


def test_it_escapes_labels():
    chart = bar_list(name="users", items=[('<script>alert("x")</script>@example.com', 3)])
    svg = str(chart.svg)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_it_draws_bars_in_the_order_given():
    svg = str(bar_list(name="models", items=[("b", 5), ("a", 2)]).svg)
    assert re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', svg) == [("b", "5"), ("a", "2")]
