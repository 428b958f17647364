"""Console pages beside the dashboard: end users and conversations, the log browser, the
playground, reports. Each renders for its tenant and shows nothing of another tenant; a
foreign id answers like an unknown one (404)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.models import Report, ReportStatus
from console.selectors import LogBrowserFilters, log_page
from forensics.models import Event, RequestLog
from forensics.sealing import tenant_chain_seal
from forensics.selectors import LogFilters
from tests import factories
from tests.console.conftest import logged_in, make_request_log

PAGES = ["dashboard", "users", "logs", "playground", "reports"]


def url(name: str, *args: str) -> str:
    return reverse(f"console:{name}", args=args)


@pytest.fixture
def conversation(owned):
    """Three turns of one conversation of alice's, and one request of hers without a conversation."""
    now = timezone.now()
    turns = []
    for i in range(3):
        turn = make_request_log(
            owned.tenant, owned.agent, user="alice@example.com", conversation_id="conv-1",
            created_at=now - timedelta(minutes=3 - i), model_requested=f"model-{i}",
        )  # fmt: skip
        turns.append(turn)
    make_request_log(owned.tenant, owned.agent, user="alice@example.com", conversation_id="conv-other")
    return turns


# --- who may open the pages ---


@pytest.mark.parametrize("name", PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, name, tenant):
    response = client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("name", PAGES)
def test_it_refuses_staff_without_a_membership(name, tenant):
    user = get_user_model().objects.create_user(username="loose", email="loose@example.com", password="pw")
    user.is_staff = True
    user.save()
    assert logged_in(user).get(url(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_it_renders_every_page_for_each_role(name, owner_client, member_client, superuser_client, owned, foreign):
    for client in (owner_client, member_client, superuser_client):
        assert client.get(url(name)).status_code == 200


@pytest.mark.parametrize("name", PAGES)
def test_no_page_shows_another_tenants_names(name, stranger_client, owned, foreign):
    html = stranger_client.get(url(name), {"tenant": owned.tenant.pk}).content.decode()
    for foreign_name in (owned.tenant.name, owned.agent.name, owned.app.name, owned.request_log.id):
        assert foreign_name not in html


def test_a_superuser_without_any_tenant_is_told_to_create_one(superuser_client):
    assert "There is no tenant yet" in superuser_client.get(url("dashboard")).content.decode()


def test_the_admin_home_links_to_the_console_pages(owner_client, owned):
    html = owner_client.get(reverse("admin:index")).content.decode()
    for name in PAGES:
        assert f'href="{url(name)}"' in html


# --- end users and conversations ---


def test_it_lists_end_users_with_their_conversation_counts(owner_client, conversation):
    html = owner_client.get(url("users")).content.decode()
    row = html.split('id="users"')[1].split("alice@example.com</a>")[1].split("</tr>")[0]
    assert '<td class="number">5</td><td class="number">2</td>' in row  # 5 requests, 2 conversations


def test_it_lists_a_users_conversations_and_one_in_order(owner_client, conversation):
    html = owner_client.get(url("conversations"), {"user": "alice@example.com"}).content.decode()
    assert "conv-1" in html
    assert "conv-other" in html
    html = owner_client.get(url("conversation"), {"user": "alice@example.com", "id": "conv-1"}).content.decode()
    order = [html.index(record.id) for record in conversation]
    assert order == sorted(order)
    assert "model-0" in html
    assert "conv-other" not in html


def test_another_tenants_end_user_and_conversation_are_not_found(stranger_client, owned, conversation):
    # The outsider has an alice@example.com too (its world record), but not this conversation.
    assert stranger_client.get(url("conversations"), {"user": "nobody@example.com"}).status_code == 404
    response = stranger_client.get(url("conversation"), {"user": "alice@example.com", "id": "conv-1"})
    assert response.status_code == 404


def test_an_unknown_cursor_starts_again_from_the_first_page(owner_client, conversation):
    response = owner_client.get(url("users"), {"after": "ghost@example.com"})
    assert response.status_code == 200
    assert "alice@example.com" in response.content.decode()


# --- the log browser ---


def test_it_filters_the_log_by_each_field(owner_client, owned):
    other_app = factories.make_app(owned.tenant)
    other_agent = factories.make_agent(owned.tenant)
    records = {
        "refused": make_request_log(
            owned.tenant, owned.agent, status_code=429, error_code="rate_limited", error_reason="requests_per_minute"
        ),
        "other_app": make_request_log(owned.tenant, owned.agent, app_id=other_app.id),
        "other_agent": make_request_log(owned.tenant, other_agent, user="bob@example.com"),
        "other_model": make_request_log(owned.tenant, owned.agent, model_requested="smart-default"),
        "old": make_request_log(owned.tenant, owned.agent, created_at=timezone.now() - timedelta(days=2)),
        "messages": make_request_log(owned.tenant, owned.agent, endpoint="messages"),
        "responses": make_request_log(owned.tenant, owned.agent, endpoint="responses"),
    }
    cases = {
        "refused": [{"status": "429"}, {"status": "4xx"}, {"status": "errors"}, {"reason": "requests_per_minute"}],
        "other_app": [{"app": other_app.id}],
        "other_agent": [{"agent": other_agent.id}, {"user": "bob@example.com"}],
        "other_model": [{"model": "smart-default"}],
        "old": [{"until": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}],
        "messages": [{"endpoint": "messages"}],
        "responses": [{"endpoint": "responses"}],
    }
    for expected, filters in cases.items():
        for params in filters:
            html = owner_client.get(url("logs"), params).content.decode()
            shown = {name for name, record in records.items() if record.id in html}
            assert shown == {expected}, params
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    html = owner_client.get(url("logs"), {"since": since}).content.decode()
    assert records["old"].id not in html
    assert records["refused"].id in html


def test_it_explains_filters_it_cannot_read(owner_client, owned):
    html = owner_client.get(url("logs"), {"status": "teapot", "since": "yesterday", "endpoint": "x"}).content.decode()
    assert "Correct the filters above." in html
    assert owned.request_log.id not in html


def test_it_pages_the_log_newest_first(owner_client, owned, monkeypatch):
    monkeypatch.setattr("console.views.logs.PAGE_SIZE", 2)
    now = timezone.now()
    made = [make_request_log(owned.tenant, owned.agent, created_at=now + timedelta(seconds=i)) for i in range(3)]
    first = owner_client.get(url("logs")).content.decode()
    assert made[2].id in first
    assert made[1].id in first
    assert made[0].id not in first
    next_query = first.split('class="console-pager"><a href="?')[1].split('"')[0].replace("&amp;", "&")
    second = owner_client.get(url("logs") + "?" + next_query).content.decode()
    assert made[0].id in second
    assert owned.request_log.id in second
    assert made[1].id not in second


def test_the_log_browser_pages_within_recent_windows_and_restarts_on_an_unknown_cursor(owned):
    """Its pages are the API's (forensics.selectors.log_page): the first one reads the last day,
    then the last month, each with a time bound; a reason filter narrows every window; and a cursor naming no record of
    the list gives the first page again."""
    now = timezone.now()
    refused = [
        make_request_log(owned.tenant, owned.agent, created_at=now - timedelta(days=d), status_code=429,
                         error_code="rate_limited", error_reason="requests_per_minute")
        for d in (0.1, 0.2, 3, 40)
    ]  # fmt: skip
    filters = LogBrowserFilters(base=LogFilters(), reason="requests_per_minute")
    with CaptureQueriesContext(connection) as queries:
        records, has_more = log_page(tenant_id=owned.tenant.id, filters=filters, after=None, limit=2)
    assert [r.id for r in records] == [refused[0].id, refused[1].id]
    assert has_more
    # The last day holds only the page itself, so the month is read next: both bounded.
    assert len(queries) == 2
    assert all('"created_at" >=' in query["sql"] for query in queries)
    records, has_more = log_page(tenant_id=owned.tenant.id, filters=filters, after=refused[1].id, limit=2)
    assert [r.id for r in records] == [refused[2].id, refused[3].id]
    assert not has_more
    records, _ = log_page(tenant_id=owned.tenant.id, filters=filters, after="req_unknown", limit=2)
    assert [r.id for r in records] == [refused[0].id, refused[1].id]


def test_it_shows_every_field_of_a_record_and_its_bodies_pretty_printed(owner_client, owned):
    record = make_request_log(
        owned.tenant, owned.agent, client_request_id="client-1", conversation_id="conv-9", credential="key",
        key_id=owned.key.id, app_id=owned.app.id, policy_ids=[owned.policy.id],
        request_body=json.dumps({"model": "mock-small", "messages": [{"role": "user", "content": "Hi <b>"}]}),
        response_body='data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: [DONE]\n\n',
    )  # fmt: skip
    html = owner_client.get(url("log", record.id)).content.decode()
    for field in ("client_request_id", "tenant_id", "key_id", "credential", "identity_source", "model_resolved",
                  "upstream_latency_ms", "policy_ids", "user_agent", "client_ip", "fail_open"):  # fmt: skip
        assert f'data-field="{field}"' in html
    assert "client-1" in html
    assert owned.policy.id in html
    assert f"({owned.agent.name})" in html
    assert f"({owned.app.name})" in html
    # Indented, and escaped: a captured body is data, never markup.
    assert "&quot;messages&quot;: [\n    {\n      &quot;role&quot;: &quot;user&quot;" in html
    assert "Hi &lt;b&gt;" in html
    assert "data: [DONE]" in html
    assert 'data-chain="pending"' in html


def test_a_records_numbers_have_separators_and_every_recorded_digit(owner_client, owned):
    record = make_request_log(owned.tenant, owned.agent, prompt_tokens=796_713, latency_ms=1234.5,
                              cost_usd=Decimal("1234.00012345"))  # fmt: skip
    html = owner_client.get(url("log", record.id)).content.decode()

    def shown(field: str) -> str:
        return html.split(f'data-field="{field}"')[1].split("<code>")[1].split("</code>")[0]

    assert (shown("prompt_tokens"), shown("latency_ms"), shown("cost_usd")) == ("796,713", "1,234.5", "1,234.00012345")
    assert shown("status_code") == "200"


def test_it_shows_the_chain_status_and_verifies_the_chain(owner_client, owned):
    tenant_chain_seal(tenant_id=owned.tenant.id)
    record = RequestLog.objects.get(pk=owned.request_log.pk)
    html = owner_client.get(url("log", record.id)).content.decode()
    assert 'data-chain="sealed"' in html
    assert record.chain_hash in html
    assert f"position {record.seq}" in html
    html = owner_client.get(url("log", record.id), {"verify": "1"}).content.decode()
    assert 'id="chain-verdict" data-valid="true"' in html


def test_it_reports_a_broken_chain(owner_client, owned):
    tenant_chain_seal(tenant_id=owned.tenant.id)
    with connection.cursor() as cursor:
        # As an attacker with database access would: on PostgreSQL with the append-only trigger off.
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE forensics_requestlog DISABLE TRIGGER USER")
        cursor.execute("UPDATE forensics_requestlog SET prompt_tokens = 999 WHERE id = %s", [owned.request_log.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE forensics_requestlog ENABLE TRIGGER USER")
    html = owner_client.get(url("log", owned.request_log.id), {"verify": "1"}).content.decode()
    assert 'data-valid="false"' in html


def test_another_tenants_record_is_not_found(stranger_client, superuser_client, owned, foreign):
    assert stranger_client.get(url("log", owned.request_log.id)).status_code == 404
    assert stranger_client.get(url("log", owned.request_log.id), {"tenant": owned.tenant.pk}).status_code == 404
    assert stranger_client.get(url("log", "req_doesnotexist000")).status_code == 404
    # A superuser sees the record in its own tenant, and not while looking at another tenant.
    assert superuser_client.get(url("log", owned.request_log.id), {"tenant": owned.tenant.pk}).status_code == 200
    assert superuser_client.get(url("log", owned.request_log.id), {"tenant": foreign.tenant.pk}).status_code == 404


def test_the_record_admin_page_links_to_the_log_browser(owner_client, owned):
    change = reverse("admin:forensics_requestlog_change", args=[owned.request_log.pk])
    assert url("log", owned.request_log.pk) in owner_client.get(change).content.decode()


# --- the playground ---


def test_the_playground_offers_the_tenants_apps_agents_and_models(owner_client, owned, foreign):
    suspended = factories.make_agent(owned.tenant, status="suspended")
    html = owner_client.get(url("playground")).content.decode()
    assert f'<option value="{owned.app.pk}"' in html
    assert f'<option value="{owned.agent.pk}" data-app="{owned.app.pk}"' in html
    assert f'<option value="{suspended.pk}" data-app="" disabled' in html
    assert f'<option value="{owned.alias.alias}">' in html
    assert "console/playground.js" in html
    for endpoint, path in (
        ("chat", "/v1/chat/completions"),
        ("messages", "/v1/messages"),
        ("responses", "/v1/responses"),
    ):
        assert f'<option value="{endpoint}" data-path="{path}">' in html
    for foreign_object in (foreign.agent.pk, foreign.app.pk, foreign.alias.alias):
        assert foreign_object not in html


def test_the_playground_says_what_is_missing(owner_client, tenant):
    html = owner_client.get(url("playground")).content.decode()
    assert "add an app" in html
    assert "add an agent" in html
    assert "playground.js" not in html


# --- reports ---


def test_it_requests_a_report_and_offers_its_downloads(owner_client, owned, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(url("reports"), {"framework": "soc2", "window": "30"})
    report = Report.objects.get(tenant=owned.tenant)
    assert report.status == ReportStatus.READY  # no broker: built when the request committed
    response = owner_client.get(url("reports"))
    assert Event.objects.filter(tenant_id=owned.tenant.id, action="report.requested", object_id=report.id).exists()
    html = response.content.decode()
    assert f'data-report-id="{report.pk}" data-status="ready"' in html
    html_download = reverse("admin:analytics_report_download", args=[report.pk, "html"])
    pdf_download = reverse("admin:analytics_report_download", args=[report.pk, "pdf"])
    assert html_download in html
    assert pdf_download in html
    assert owner_client.get(pdf_download)["Content-Type"] == "application/pdf"
    assert owner_client.get(html_download).status_code == 200
    # The report's own admin page lays out every finding with its evidence.
    page = owner_client.get(reverse("admin:analytics_report_change", args=[quote(report.pk)]))
    assert page.status_code == 200
    finding = report.findings[0]
    assert f"<td>{finding['control']}</td>" in page.content.decode()


def test_a_viewer_sees_reports_but_cannot_request_one(member_client, owned):
    assert 'id="report-request"' not in member_client.get(url("reports")).content.decode()
    assert member_client.post(url("reports"), {"framework": "soc2", "window": "30"}).status_code == 403
    assert not Report.objects.exists()


def test_another_tenants_reports_are_not_listed(
    owner_client, stranger_client, owned, foreign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(url("reports"), {"framework": "soc2", "window": "7"})
    report = Report.objects.get()
    assert report.pk not in stranger_client.get(url("reports")).content.decode()
    download = reverse("admin:analytics_report_download", args=[report.pk, "pdf"])
    assert stranger_client.get(download).status_code == 404


def test_a_refused_report_request_shows_the_form_again(owner_client, owned):
    response = owner_client.post(url("reports"), {"framework": "gdpr", "window": "30"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_console_pages_need_the_csrf_token_for_writes(owned, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(url("reports"), {"framework": "soc2", "window": "30"}).status_code == 403
