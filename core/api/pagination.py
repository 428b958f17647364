"""Cursor pagination of every management list (SPEC section 5).

``?limit=`` (default 20, above 100 clamped to 100) and ``?after=<id>``. The order is
``(created_at, id)`` — or its reverse for newest-first lists — so ties on ``created_at``
are broken by id and a walk never skips or repeats an object while rows are added. The
cursor is an id of the same (tenant-restricted) list; any other id is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet

from core.errors import GatewayError, invalid_request

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Model]
    has_more: bool


def page_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise invalid_request(f"limit: must be an integer from 1 to {MAX_LIMIT}", "invalid_limit")
    return min(value, MAX_LIMIT)


def cursor_anchor(queryset: QuerySet[Any], after: str) -> Any | None:
    """The ``created_at`` of the object ``after`` of ``queryset``; None when the queryset holds
    no object of that id (or the id is not even of the shape of its ids)."""
    try:
        return queryset.filter(pk=after).values_list("created_at", flat=True).first()
    except (ValueError, TypeError, DjangoValidationError):
        return None  # not even of the shape of this list's ids (an integer-keyed list)


def invalid_cursor() -> GatewayError:
    return invalid_request("after: names no object of this list", "invalid_cursor")


def cursor_page(
    queryset: QuerySet[Any],
    *,
    limit: int,
    after: str | None,
    newest_first: bool = False,
    anchor: Any | None = None,
) -> Page:
    """One page of ``queryset`` after the object ``after``. A caller that has already found
    that object's ``created_at`` (in a query narrower than the list's, see
    ``forensics.selectors.log_page``) passes it as ``anchor``, and it is not looked up again."""
    queryset = queryset.order_by(*(("-created_at", "-pk") if newest_first else ("created_at", "pk")))
    if after:
        if anchor is None:
            anchor = cursor_anchor(queryset, after)
        if anchor is None:
            raise invalid_cursor()
        if newest_first:
            queryset = queryset.filter(Q(created_at__lt=anchor) | Q(created_at=anchor, pk__lt=after))
        else:
            queryset = queryset.filter(Q(created_at__gt=anchor) | Q(created_at=anchor, pk__gt=after))
    items = list(queryset[: limit + 1])
    return Page(items=items[:limit], has_more=len(items) > limit)


def list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "last_id": data[-1]["id"] if data else None}
