"""Reads of the forensic record and the management audit trail, always within one tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta

from django.db.models import Max, QuerySet
from django.utils import timezone

from core.api.pagination import Page, cursor_anchor, cursor_page, invalid_cursor
from forensics.models import AuditChainHead, Event, RequestLog

# The windows a first page of records tries before the whole history: the last day fills
# most pages, and a query bounded in time plans only the month partitions of its window on
# PostgreSQL (docs/decisions.md, "Monthly record partitions").
LOG_PAGE_WINDOWS = (timedelta(days=1), timedelta(days=31))


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilters:
    """The filters of SPEC 5.7; ``None`` means "not filtered". Each one is served by an index
    that starts with ``tenant_id`` (see docs/forensics.md, "Indexes")."""

    since: datetime | None = None
    until: datetime | None = None
    agent_id: str | None = None
    user: str | None = None
    conversation_id: str | None = None
    client_request_id: str | None = None
    app_id: str | None = None
    model: str | None = None
    status: int | None = None
    error_code: str | None = None
    endpoint: str | None = None

    @property
    def narrows(self) -> bool:
        """Whether any filter is set (an export is then not the complete chain)."""
        return any(getattr(self, f.name) is not None for f in fields(self))


# Filter name -> the RequestLog column it matches exactly.
EXACT_COLUMNS = {
    "agent_id": "agent_id",
    "user": "user",
    "conversation_id": "conversation_id",
    "client_request_id": "client_request_id",
    "app_id": "app_id",
    "model": "model_requested",
    "status": "status_code",
    "error_code": "error_code",
    "endpoint": "endpoint",
}


def _tenant_logs(tenant_id: str) -> QuerySet[RequestLog]:
    if not tenant_id:
        raise ValueError("a tenant is required")
    return RequestLog.objects.filter(tenant_id=tenant_id)


def log_list(*, tenant_id: str, filters: LogFilters | None = None) -> QuerySet[RequestLog]:
    """The tenant's request records narrowed by ``filters`` (``since`` inclusive, ``until``
    exclusive, so consecutive windows neither overlap nor leave a gap), newest first."""
    filters = filters or LogFilters()
    logs = _tenant_logs(tenant_id)
    if filters.since is not None:
        logs = logs.filter(created_at__gte=filters.since)
    if filters.until is not None:
        logs = logs.filter(created_at__lt=filters.until)
    exact = {column: getattr(filters, name) for name, column in EXACT_COLUMNS.items()}
    logs = logs.filter(**{column: value for column, value in exact.items() if value is not None})
    return logs.order_by("-created_at", "-id")


def log_page(
    *,
    tenant_id: str,
    filters: LogFilters | None = None,
    limit: int,
    after: str | None = None,
    defer: Iterable[str] = (),
    now: datetime | None = None,
    narrow: Callable[[QuerySet[RequestLog]], QuerySet[RequestLog]] | None = None,
) -> Page:
    """One newest-first page of :func:`log_list`, the very page ``cursor_page`` cuts from the
    whole list (narrowed further by ``narrow``: the console's filters that the API has not).

    A first page (no ``after``) looks at the last day, then the last month
    (:data:`LOG_PAGE_WINDOWS`), and answers from the first window that holds more than a
    page: the newest records of the list are then all in it. A page after a cursor finds the
    cursor's record as :func:`log_get` does (the last month first), then tries the same
    windows reaching back from that record's time. Otherwise it reads the whole list."""
    filters = filters or LogFilters()
    now = now or timezone.now()

    def listed(chosen: LogFilters) -> QuerySet[RequestLog]:
        records = log_list(tenant_id=tenant_id, filters=chosen).defer(*defer)
        return narrow(records) if narrow is not None else records

    logs = listed(filters)
    anchor = None
    if after:
        anchor = _log_anchor(logs, after=after, now=now)
        if anchor is None:
            raise invalid_cursor()
    top = now if anchor is None else anchor
    for window in LOG_PAGE_WINDOWS:
        start = top - window
        if filters.since is not None and filters.since >= start:
            break  # the filter's own window is narrower already
        if filters.until is not None and filters.until <= start:
            continue  # nothing of the list is in this window
        windowed = listed(replace(filters, since=start))
        if anchor is not None:
            # Implied by the cursor's condition, but stated plainly so that the plan also
            # leaves out the partitions of the months after the anchor's.
            windowed = windowed.filter(created_at__lte=anchor)
        page = cursor_page(windowed, limit=limit, after=after, anchor=anchor, newest_first=True)
        if page.has_more:
            return page
    return cursor_page(logs, limit=limit, after=after, anchor=anchor, newest_first=True)


def _log_anchor(logs: QuerySet[RequestLog], *, after: str, now: datetime) -> datetime | None:
    """The time of the record ``after`` of the list ``logs``: looked for in the last month
    first (a cursor is mostly a recent page's last record), then in the whole list."""
    recent = cursor_anchor(logs.filter(created_at__gte=now - LOG_PAGE_WINDOWS[-1]), after)
    return recent if recent is not None else cursor_anchor(logs, after)


def log_get(*, tenant_id: str, request_id: str, now: datetime | None = None) -> RequestLog | None:
    """One record of the tenant by its ``req_`` id; None for an unknown or foreign id.

    Ids are random, so nothing bounds the search by time; but most records looked up are
    recent (opened from a list), so the last month is asked first, which on PostgreSQL plans
    its one or two month partitions rather than all of them."""
    records = _tenant_logs(tenant_id).filter(pk=request_id)
    recent = records.filter(created_at__gte=(now or timezone.now()) - LOG_PAGE_WINDOWS[-1]).first()
    return recent if recent is not None else records.first()


def event_list(
    *, tenant_id: str, object_id: str | None = None, action: str | None = None, object_type: str | None = None
) -> QuerySet[Event]:
    """The tenant's management events, optionally narrowed to one object, action or type."""
    if not tenant_id:
        raise ValueError("a tenant is required")
    events = Event.objects.filter(tenant_id=tenant_id)
    if object_id:
        events = events.filter(object_id=object_id)
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    return events


def last_seal_at() -> datetime | None:
    """When any tenant's chain was last extended by a seal, platform-wide (an operator's
    figure for ``/metrics``, not a tenant's: one sealer serves every tenant of a database).

    Read from the chain heads, one row per tenant, rather than the checkpoints, which grow by
    one row per seal."""
    return AuditChainHead.objects.aggregate(last=Max("updated_at"))["last"]
