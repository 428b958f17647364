"""Server-rendered SVG charts for the dashboard: no JavaScript, no library, works offline.

Colours come from CSS classes (``console/console.css``), so the charts follow the admin's
light and dark themes. Every bar carries a ``<title>`` (a tooltip, and what a screen reader
says) and its numbers as ``data-`` attributes, which the tests read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from console.formatting import number_text

# About the width a chart gets on the page, so 11-12px text stays readable when scaled.
WIDTH = 560
COLUMN_HEIGHT = 220
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 8, 10, 26
ROW_HEIGHT = 24
LABEL_WIDTH = 190
VALUE_WIDTH = 70
MAX_X_LABELS = 10
MAX_LABEL_CHARS = 28


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css_class: str
    values: list[float]


@dataclass(frozen=True, slots=True)
class Chart:
    """An SVG chart and what the page shows around it."""

    name: str
    svg: SafeString
    legend: list[tuple[str, str]]  # (series name, CSS class)
    total: float

    @property
    def empty(self) -> bool:
        return self.total == 0


def compact_number(value: float) -> str:
    """``1234`` -> ``1.2k``: axis labels stay short."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover (the loop always returns)


def _shorten(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def column_chart(
    *, name: str, labels: list[str], series: list[Series], value_text: Callable[[float], str] = number_text
) -> Chart:
    """Stacked columns, one per label (a time bucket), the series stacked bottom up."""
    count = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    top = nice_ceiling(max(totals, default=0))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = COLUMN_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / max(count, 1)
    bar = max(1.0, slot * 0.72)
    parts = [
        f'<svg class="console-chart" data-chart="{escape(name)}" data-total="{sum(totals):g}" '
        f'viewBox="0 0 {WIDTH} {COLUMN_HEIGHT}" role="img" aria-label="{escape(name)}" '
        f'preserveAspectRatio="xMidYMid meet">'
    ]
    parts.extend(_grid(top, plot_height))
    every = max(1, math.ceil(count / MAX_X_LABELS))
    for i, label in enumerate(labels):
        x = MARGIN_LEFT + slot * i + (slot - bar) / 2
        tip = "; ".join(f"{s.name}: {value_text(s.values[i])}" for s in series)
        values = " ".join(f"{s.values[i]:g}" for s in series)
        parts.append(
            f'<g class="bucket" data-label="{escape(label)}" data-total="{totals[i]:g}" data-values="{values}">'
            f"<title>{escape(label)}: {escape(tip)}</title>"
        )
        base = MARGIN_TOP + plot_height
        for s in series:
            height = plot_height * s.values[i] / top
            if height > 0:
                base -= height
                parts.append(
                    f'<rect class="{escape(s.css_class)}" x="{x:.1f}" y="{base:.1f}" '
                    f'width="{bar:.1f}" height="{height:.1f}"/>'
                )
        # An invisible full-height target, so an empty bucket still has a tooltip.
        parts.append(
            f'<rect class="hover" x="{MARGIN_LEFT + slot * i:.1f}" y="{MARGIN_TOP}" '
            f'width="{slot:.1f}" height="{plot_height}"/></g>'
        )
        if i % every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{COLUMN_HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Chart(name, mark_safe("".join(parts)), [(s.name, s.css_class) for s in series], sum(totals))  # noqa: S308


def bar_list(
    *,
    name: str,
    items: list[tuple[str, float]],
    css_class: str = "bar-primary",
    value_text: Callable[[float], str] = number_text,
) -> Chart:
    """Horizontal bars, one per item (label, value), in the order given."""
    top = max((value for _, value in items), default=0) or 1
    height = max(ROW_HEIGHT, ROW_HEIGHT * len(items)) + 4
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg class="console-chart console-bars" data-chart="{escape(name)}" '
        f'data-total="{sum(v for _, v in items):g}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(name)}" preserveAspectRatio="xMinYMin meet">'
    ]
    for i, (label, value) in enumerate(items):
        y = 2 + ROW_HEIGHT * i
        length = max(1.0, plot * value / top) if value else 0
        parts.append(
            f'<g class="row" data-label="{escape(label)}" data-value="{value:g}">'
            f"<title>{escape(label)}: {escape(value_text(value))}</title>"
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">{escape(_shorten(label))}</text>'
            f'<rect class="{escape(css_class)}" x="{LABEL_WIDTH}" y="{y + 4}" width="{length:.1f}" '
            f'height="{ROW_HEIGHT - 8}"/>'
            f'<text class="value" x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 16}">{escape(value_text(value))}</text>'
            "</g>"
        )
    parts.append("</svg>")
    total = sum(v for _, v in items)
    return Chart(name, mark_safe("".join(parts)), [], total)  # noqa: S308


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a line chart; ``None`` is a bucket without data (the line breaks there)."""

    name: str
    css_class: str
    values: list[float | None]


def _runs(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """The unbroken stretches of a line: a bucket without data ends one."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def line_chart(
    *, name: str, labels: list[str], lines: list[Line], value_text: Callable[[float], str] = number_text
) -> Chart:
    """Lines over time buckets (latency percentiles): one point per bucket that has data.

    A bucket without requests has no latency, so the line breaks there rather than dropping
    to zero; a lone point is drawn as a dot.
    """
    count = len(labels)
    present = [v for line in lines for v in line.values if v is not None]
    top = nice_ceiling(max(present, default=0))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = COLUMN_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / max(count, 1)

    def point(i: int, value: float | None) -> tuple[float, float] | None:
        if value is None:
            return None
        return MARGIN_LEFT + slot * i + slot / 2, MARGIN_TOP + plot_height - plot_height * value / top

    parts = [
        f'<svg class="console-chart console-lines" data-chart="{escape(name)}" data-points="{len(present)}" '
        f'viewBox="0 0 {WIDTH} {COLUMN_HEIGHT}" role="img" aria-label="{escape(name)}" '
        f'preserveAspectRatio="xMidYMid meet">'
    ]
    parts.extend(_grid(top, plot_height))
    for line in lines:
        points = [point(i, v) for i, v in enumerate(line.values)]
        for run in _runs(points):
            if len(run) == 1:
                x, y = run[0]
                parts.append(f'<circle class="{escape(line.css_class)}" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>')
            else:
                coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline class="{escape(line.css_class)}" points="{coordinates}"/>')
    every = max(1, math.ceil(count / MAX_X_LABELS))
    for i, label in enumerate(labels):
        values = [line.values[i] for line in lines]
        texts = ["no requests" if v is None else value_text(v) for v in values]
        tip = "; ".join(f"{line.name}: {text}" for line, text in zip(lines, texts, strict=True))
        data = " ".join("-" if v is None else f"{v:g}" for v in values)
        parts.append(
            f'<g class="bucket" data-label="{escape(label)}" data-values="{data}">'
            f"<title>{escape(label)}: {escape(tip)}</title>"
            f'<rect class="hover" x="{MARGIN_LEFT + slot * i:.1f}" y="{MARGIN_TOP}" '
            f'width="{slot:.1f}" height="{plot_height}"/></g>'
        )
        if i % every == 0:
            parts.append(
                f'<text class="axis" x="{MARGIN_LEFT + slot * i + slot / 2:.1f}" y="{COLUMN_HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Chart(name, mark_safe("".join(parts)), [(line.name, line.css_class) for line in lines], len(present))  # noqa: S308


def _grid(top: float, plot_height: float) -> list[str]:
    """The five horizontal grid lines of a chart, each with its value on the axis."""
    lines = []
    for step in range(5):
        value = top * step / 4
        y = MARGIN_TOP + plot_height - plot_height * step / 4
        lines.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{compact_number(value)}</text>'
        )
    return lines
