"""How the console writes numbers: thousands separators, money with sensible decimals.

One place for every page and chart, so a figure reads the same in a card, a table and a
tooltip. Plain functions (the template filters of ``console_format`` call them too).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

DASH = "—"


def _number(value: object) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def number_text(value: object, decimals: int = 0) -> str:
    """``796713`` -> ``796,713``; ``None`` -> an em dash; anything not a number as it is."""
    number = _number(value)
    if number is None:
        return DASH if value is None or value == "" else str(value)
    if decimals == 0:
        return f"{round(number):,}"
    return f"{number:,.{decimals}f}"


def exact_number_text(value: object) -> str:
    """Every digit recorded, grouped: ``1234.567`` -> ``1,234.567`` (a record's own values)."""
    number = _number(value)
    return DASH if number is None else f"{number:,}"


def usd_text(value: object) -> str:
    """An estimated cost in USD: ``$1,234.56``; below a dollar four decimals (``$0.0042``),
    where two would round most per-request costs to zero; zero as ``$0.00``."""
    number = _number(value)
    if number is None:
        return DASH
    if number == 0:
        return "$0.00"
    decimals = 4 if abs(number) < 1 else 2
    sign = "-" if number < 0 else ""
    return f"{sign}${abs(number):,.{decimals}f}"


def ms_text(value: object) -> str:
    """A latency in whole milliseconds: ``1,250 ms``."""
    number = _number(value)
    return DASH if number is None else f"{round(number):,} ms"


def percent_text(used: int | float, limit: int | float) -> str:
    """``used`` as a share of ``limit``, whole percent (``0%`` for a zero limit)."""
    return f"{(used / limit * 100 if limit else 0):,.0f}%"
