"""/v1/users orders its users by each one's last record, looked for in the last month first and
in the whole window only when that finds none: the order and the users listed are those of the
whole window, on either side of the month's edge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.selectors import end_user_page
from forensics.models import RequestLog
from tests.analytics.support import record

pytestmark = pytest.mark.django_db


def whole_window_order(tenant_id: str, since=None, until=None) -> list[str]:
    """The users of the window by their last record in it, newest first, ties by identity."""
    records = RequestLog.objects.filter(tenant_id=tenant_id, user__isnull=False)
    if since is not None:
        records = records.filter(created_at__gte=since)
    if until is not None:
        records = records.filter(created_at__lt=until)
    last = records.values("user").annotate(last=Max("created_at")).order_by("-last", "user")
    return [row["user"] for row in last]


def listed(tenant_id: str, limit: int, **window) -> list[str]:
    users, after = [], None
    while True:
        items, has_more = end_user_page(tenant_id=tenant_id, limit=limit, after=after, **window)
        users += [item["user"] for item in items]
        if not has_more:
            return users
        after = items[-1]["user"]


@pytest.fixture
def seen(tenant, outsider):
    now = timezone.now()
    days = timedelta(days=1)
    record(tenant.id, now - 40 * days, user="ann@example.com")  # last seen 40 days ago
    record(tenant.id, now - 90 * days, user="bob@example.com")
    record(tenant.id, now - timedelta(hours=1), user="bob@example.com")
    record(tenant.id, now - 10 * days, user="cy@example.com")
    record(tenant.id, now - 31 * days - timedelta(minutes=1), user="dee@example.com")  # just past the month
    record(tenant.id, now - 31 * days + timedelta(minutes=1), user="eve@example.com")  # just within it
    record(tenant.id, now - 40 * days, user="fay@example.com")  # ann's instant: ordered by identity
    record(tenant.id, now - 40 * days, user=None)
    record(outsider.id, now - timedelta(hours=2), user="ann@example.com")
    return now


@pytest.mark.parametrize("limit", [1, 2, 10])
@pytest.mark.parametrize(
    "window",
    [
        {},
        {"since": -60},  # reaches past the month: its last month first
        {"since": -2},  # inside the month: one probe in the window
        {"until": -35},  # ends before the month: nothing of it there
        {"until": -5},
        {"since": -45, "until": -20},
    ],
)
def test_users_are_ordered_by_their_last_record_in_the_whole_window(tenant, seen, limit, window):
    bounds = {name: seen + timedelta(days=offset) for name, offset in window.items()}
    expected = whole_window_order(tenant.id, **bounds)
    assert listed(tenant.id, limit, **bounds) == expected
    assert expected  # every window holds someone


def test_a_users_last_record_is_looked_for_in_the_last_month_first(tenant, seen):
    with CaptureQueriesContext(connection) as captured:
        end_user_page(tenant_id=tenant.id, limit=10)
    (walk,) = [q["sql"] for q in captured.captured_queries if "WITH RECURSIVE" in q["sql"]]
    assert "COALESCE" in walk
    assert "created_at >=" in walk
