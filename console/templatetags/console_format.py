"""Template filters for the console's numbers: ``{% load console_format %}`` then
``{{ n|number }}``, ``{{ cost|usd }}``, ``{{ latency|ms }}`` (rules in console.formatting)."""

from __future__ import annotations

from django import template

from console.formatting import ms_text, number_text, usd_text

register = template.Library()


@register.filter
def number(value: object, decimals: int = 0) -> str:
    return number_text(value, int(decimals))


@register.filter
def usd(value: object) -> str:
    return usd_text(value)


@register.filter
def ms(value: object) -> str:
    return ms_text(value)
