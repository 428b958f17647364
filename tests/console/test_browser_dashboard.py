"""The dashboard and log browser in a real browser (headless chromium through Playwright)
against the live gateway: numbers with separators, the latency chart, the limit bars, tables
that fit at 1280px and 800px, and the export button's download."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from tests import factories
from tests.console.conftest import make_request_log
from tests.support.browser import chromium, console_login
from tests.support.requirements import needs_browser

pytestmark = needs_browser

WIDTHS = (1280, 800)
LONG_USER = "a.very.long.end-user.identity.for.layout@subsidiary.example-enterprise.com"
# Every table of the dashboard's and the log browser's, and how far each reaches past the page.
OVERFLOW_JS = """() => {
  const page = document.documentElement.clientWidth;
  const tables = [...document.querySelectorAll('table.console-table')].map(t => {
    const box = t.getBoundingClientRect();
    const holder = t.parentElement.getBoundingClientRect();
    const cells = [...t.querySelectorAll('tr:first-child > *')].filter(c => c.offsetParent !== null);
    const last = cells.length ? cells[cells.length - 1].getBoundingClientRect().right : box.right;
    return {id: t.id, right: Math.max(box.right, last), holder: holder.right, page,
            scroll: t.parentElement.scrollWidth - t.parentElement.clientWidth};
  });
  return {page, scroll: document.documentElement.scrollWidth, tables};
}"""


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; Django would then refuse the
    # tests' own (synchronous, never concurrent) database calls as "async unsafe".
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with chromium() as browser:
            yield browser


@pytest.fixture
def site(gateway):
    """A tenant with a busy day: big figures, a long identity, a budget and refusals."""
    tenant = factories.make_tenant("Layout Org")
    app = factories.make_app(tenant, slug="layout-app", is_default=True)
    agent = factories.make_agent(tenant, name="layout-agent", app=app)
    key, _ = factories.make_key(agent, rate_limit=120)
    factories.make_policy(tenant, name="Spend cap", agent_ids=[agent.id], daily_token_budget=2_000_000)
    now = timezone.now()
    make_request_log(tenant, agent, user=LONG_USER, key_id=key.id, prompt_tokens=700_000, completion_tokens=96_713,
                     cost_usd=Decimal("1234.5678"), latency_ms=850, created_at=now - timedelta(minutes=2))  # fmt: skip
    for minutes in range(3, 30):
        make_request_log(tenant, agent, user="bob@example.com", key_id=key.id, latency_ms=100 + minutes,
                         created_at=now - timedelta(minutes=minutes))  # fmt: skip
    make_request_log(tenant, agent, user="bob@example.com", status_code=429, error_code="rate_limited",
                     error_reason="requests_per_minute", prompt_tokens=0, completion_tokens=0)  # fmt: skip
    admin = factories.make_console_user(tenant, email="admin@layout.example", role="admin")
    return type("Site", (), {"tenant": tenant, "agent": agent, "key": key, "admin": admin, "url": gateway.url})


def open_page(browser, site, width: int):
    context = browser.new_context(base_url=site.url, viewport={"width": width, "height": 900}, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    console_login(page, site.url, site.admin.username)
    return context, page


def assert_nothing_clipped(page, width: int) -> None:
    layout = page.evaluate(OVERFLOW_JS)
    assert layout["tables"], "no table on the page"
    assert layout["scroll"] <= layout["page"], f"the page scrolls sideways at {width}px"
    for table in layout["tables"]:
        assert table["right"] <= table["holder"] + 1, f"{table['id']} reaches past its section at {width}px"
        assert table["right"] <= table["page"], f"{table['id']} reaches past the page at {width}px"
        assert table["scroll"] <= 0, f"{table['id']} scrolls inside its section at {width}px"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_shows_separators_latency_and_limit_bars_without_clipping(browser, site, width):
    context, page = open_page(browser, site, width)
    try:
        page.goto("/admin/console/")
        assert page.text_content("[data-figure=tokens] .figure") == "796,929"  # 700,000 + 96,713 + 27 x 8
        assert page.text_content("[data-figure=cost] .figure") == "$1,234.57"
        top_users = page.locator("#top-users tr", has_text=LONG_USER)
        assert top_users.locator("td.number").last.text_content() == "$1,234.57"
        assert top_users.locator("td.number").last.is_visible()

        latency = page.locator("svg[data-chart=latency]")
        assert latency.is_visible()
        assert latency.bounding_box()["height"] > 50
        assert page.locator("svg[data-chart=latency] polyline, svg[data-chart=latency] circle").count() >= 2
        assert "p95" in page.text_content("#chart-latency .console-legend")

        budget = page.locator("#limit-use tr[data-rule=daily_token_budget]")
        meter = budget.locator("meter")
        assert meter.is_visible()
        assert meter.bounding_box()["width"] > 40
        assert (meter.get_attribute("value"), meter.get_attribute("max")) == ("796929", "2000000")
        assert "796,929 / 2,000,000 tokens" in budget.text_content()
        own = page.locator("#limit-use tr[data-rule=rate_limit] meter")
        assert own.get_attribute("max") == "120"

        assert_nothing_clipped(page, width)
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_log_browser_fits_and_writes_numbers_with_separators(browser, site, width):
    context, page = open_page(browser, site, width)
    try:
        page.goto("/admin/console/logs/")
        row = page.locator("#log-records tr", has_text=LONG_USER)
        assert row.locator("td.number").first.text_content() == "796,713"
        assert_nothing_clipped(page, width)
    finally:
        context.close()


def test_the_export_button_downloads_the_current_filters_records(browser, site):
    context, page = open_page(browser, site, 1280)
    try:
        page.goto("/admin/console/logs/")
        page.fill("#id_status", "429")
        page.click("#log-filters input[type=submit]")
        page.wait_for_selector("#log-records")
        with page.expect_download() as download_info:
            page.click("#log-export a[data-format=csv]")
        download = download_info.value
        assert download.suggested_filename.startswith(f"aidgate-logs-{site.tenant.pk}-")
        assert download.suggested_filename.endswith(".csv")
        rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
        assert [(r["status_code"], r["error_reason"]) for r in rows] == [("429", "requests_per_minute")]
        assert {r["tenant_id"] for r in rows} == {site.tenant.pk}
    finally:
        context.close()
