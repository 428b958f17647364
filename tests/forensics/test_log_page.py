"""A first page of records tries the last day, then the last month, before the whole list,
and answers exactly the page the whole list would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.api.pagination import cursor_page
from core.errors import GatewayError
from forensics.selectors import LogFilters, log_get, log_list, log_page
from tests.forensics.support import make_logs

pytestmark = pytest.mark.django_db


def whole_list_page(tenant_id: str, limit: int, filters: LogFilters | None = None):
    page = cursor_page(log_list(tenant_id=tenant_id, filters=filters), limit=limit, after=None, newest_first=True)
    return [r.id for r in page.items], page.has_more


def record_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "forensics_requestlog" in q["sql"]]


def test_a_busy_tenants_first_page_reads_the_last_day_only(tenant, outsider):
    now = timezone.now()
    make_logs(tenant.id, 5, start=now - timedelta(days=10))
    make_logs(tenant.id, 25, start=now - timedelta(minutes=30))
    make_logs(outsider.id, 30, start=now - timedelta(minutes=30))
    with CaptureQueriesContext(connection) as captured:
        page = log_page(tenant_id=tenant.id, limit=20, now=now)
    assert ([r.id for r in page.items], page.has_more) == whole_list_page(tenant.id, 20)
    (query,) = record_queries(captured)
    assert '"created_at" >=' in query


@pytest.mark.parametrize("limit", [1, 2, 4, 5, 20])
def test_a_sparse_tenants_first_page_is_the_whole_lists_page(tenant, outsider, limit):
    now = timezone.now()
    make_logs(tenant.id, 3, start=now - timedelta(days=40))
    make_logs(tenant.id, 2, start=now - timedelta(days=10))
    make_logs(tenant.id, 2, start=now - timedelta(hours=1))
    make_logs(outsider.id, 30, start=now - timedelta(minutes=30))
    page = log_page(tenant_id=tenant.id, limit=limit, now=now)
    assert ([r.id for r in page.items], page.has_more) == whole_list_page(tenant.id, limit)


def test_filters_keep_their_own_window(tenant):
    now = timezone.now()
    make_logs(tenant.id, 3, start=now - timedelta(days=40))
    make_logs(tenant.id, 3, start=now - timedelta(hours=1))
    until = LogFilters(until=now - timedelta(days=35))
    page = log_page(tenant_id=tenant.id, filters=until, limit=2, now=now)
    assert ([r.id for r in page.items], page.has_more) == whole_list_page(tenant.id, 2, until)
    since = LogFilters(since=now - timedelta(hours=2))
    with CaptureQueriesContext(connection) as captured:
        page = log_page(tenant_id=tenant.id, filters=since, limit=2, now=now)
    assert ([r.id for r in page.items], page.has_more) == whole_list_page(tenant.id, 2, since)
    assert len(record_queries(captured)) == 1  # its own window is narrower than a day


def test_a_record_is_looked_up_in_the_last_month_first(tenant, outsider):
    now = timezone.now()
    (recent,) = make_logs(tenant.id, 1, start=now - timedelta(hours=1))
    (old,) = make_logs(tenant.id, 1, start=now - timedelta(days=40))
    with CaptureQueriesContext(connection) as captured:
        assert log_get(tenant_id=tenant.id, request_id=recent.id, now=now).id == recent.id
    (query,) = record_queries(captured)
    assert '"created_at" >=' in query
    with CaptureQueriesContext(connection) as captured:
        assert log_get(tenant_id=tenant.id, request_id=old.id, now=now).id == old.id
    assert len(record_queries(captured)) == 2
    assert log_get(tenant_id=outsider.id, request_id=recent.id, now=now) is None
    assert log_get(tenant_id=tenant.id, request_id="req_unknown", now=now) is None


def whole_list_walk(tenant_id: str, limit: int, filters: LogFilters | None = None) -> list[tuple[list[str], bool]]:
    """Every page of the whole list, cut by ``cursor_page`` alone (no windows)."""
    pages, after = [], None
    while True:
        logs = log_list(tenant_id=tenant_id, filters=filters)
        page = cursor_page(logs, limit=limit, after=after, newest_first=True)
        pages.append(([r.id for r in page.items], page.has_more))
        if not page.has_more:
            return pages
        after = page.items[-1].id


def log_page_walk(tenant_id: str, limit: int, now, filters: LogFilters | None = None) -> list[tuple[list[str], bool]]:
    pages, after = [], None
    while True:
        page = log_page(tenant_id=tenant_id, filters=filters, limit=limit, after=after, now=now)
        pages.append(([r.id for r in page.items], page.has_more))
        if not page.has_more:
            return pages
        after = page.items[-1].id


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 20])
def test_pages_after_a_cursor_are_the_whole_lists_pages_across_every_window_edge(tenant, outsider, limit):
    now = timezone.now()
    make_logs(tenant.id, 3, start=now - timedelta(days=80), step=timedelta(days=10))  # cursors older than a month
    make_logs(tenant.id, 2, start=now - timedelta(days=31, minutes=1), step=timedelta(minutes=2))  # on 31 days
    make_logs(tenant.id, 4, start=now - timedelta(days=3), step=timedelta(hours=14))  # around a day below each
    make_logs(tenant.id, 3, start=now - timedelta(hours=2), step=timedelta(0))  # one instant: ties broken by id
    make_logs(tenant.id, 2, start=now - timedelta(minutes=5))
    make_logs(outsider.id, 30, start=now - timedelta(days=40), step=timedelta(days=1))
    assert log_page_walk(tenant.id, limit, now) == whole_list_walk(tenant.id, limit)
    status = LogFilters(status=200)
    assert log_page_walk(tenant.id, limit, now, status) == whole_list_walk(tenant.id, limit, status)


def test_a_page_after_a_recent_cursor_reads_the_last_month_then_the_day_below_it(tenant):
    now = timezone.now()
    make_logs(tenant.id, 5, start=now - timedelta(days=10))
    make_logs(tenant.id, 45, start=now - timedelta(minutes=30))
    first = log_page(tenant_id=tenant.id, limit=20, now=now)
    with CaptureQueriesContext(connection) as captured:
        page = log_page(tenant_id=tenant.id, limit=20, after=first.items[-1].id, now=now)
    assert ([r.id for r in page.items], page.has_more) == whole_list_walk(tenant.id, 20)[1]
    anchor_query, page_query = record_queries(captured)
    assert '"created_at" >=' in anchor_query
    assert '"created_at" >=' in page_query
    assert '"created_at" <=' in page_query


def test_a_cursor_older_than_a_month_is_found_in_the_whole_list_and_its_page_read_in_the_day_below_it(tenant):
    now = timezone.now()
    old = make_logs(tenant.id, 30, start=now - timedelta(days=40), step=timedelta(minutes=1))
    make_logs(tenant.id, 3, start=now - timedelta(hours=1))
    anchor = old[-5]  # four records after it within the minutes below it, then 25 more
    with CaptureQueriesContext(connection) as captured:
        page = log_page(tenant_id=tenant.id, limit=10, after=anchor.id, now=now)
    assert [r.id for r in page.items] == [r.id for r in reversed(old[-15:-5])]
    assert page.has_more
    recent_lookup, lookup, page_query = record_queries(captured)
    assert '"created_at" >=' in recent_lookup
    assert '"created_at" >=' not in lookup  # the whole list
    assert '"created_at" >=' in page_query


def test_a_cursor_outside_the_list_is_refused_without_a_page_query(tenant, outsider):
    now = timezone.now()
    (foreign,) = make_logs(outsider.id, 1, start=now - timedelta(hours=1))
    (failed,) = make_logs(tenant.id, 1, start=now - timedelta(hours=1), status_code=500)
    make_logs(tenant.id, 3, start=now - timedelta(hours=2))
    for after, filters in ((foreign.id, None), ("req_unknown", None), (failed.id, LogFilters(status=200))):
        with CaptureQueriesContext(connection) as captured, pytest.raises(GatewayError) as refused:
            log_page(tenant_id=tenant.id, filters=filters, limit=2, after=after, now=now)
        assert refused.value.reason == "invalid_cursor"
        assert len(record_queries(captured)) == 2  # the last month, then the whole list
