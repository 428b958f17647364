"""A first page of records tries the last day, then the last month, before the whole list,
and answers exactly the page the whole list would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.api.pagination import cursor_page
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
