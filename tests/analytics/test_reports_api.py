"""Compliance reports on the API (SPEC 5.8): request (202), build (inline without a broker),
read, list, download as HTML and PDF, and who may do which."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import Report, ReportStatus
from analytics.report_requests import report_create
from analytics.services import report_build
from core.actors import SYSTEM
from forensics.models import Event
from forensics.sealing import audit_seal_all
from tests.analytics.support import record
from tests.analytics.support_pdf import pdf_text
from tests.api.support import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(owner_api, tenant, django_capture_on_commit_callbacks):
    record(tenant.id, timezone.now() - timedelta(minutes=5), user="ann@example.com")
    audit_seal_all()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post("/v1/reports", {"framework": "eu_ai_act"}, format="json")
    assert response.status_code == 202, response.content
    accepted = response.json()
    # The build ran when the test's transaction hook fired, after the 202 was made.
    assert (accepted["object"], accepted["status"], accepted["findings"]) == ("report", "pending", [])
    return owner_api.get(f"/v1/reports/{accepted['id']}").json()


@pytest.fixture
def pending(tenant) -> Report:
    now = timezone.now()
    # Without running its on-commit hook, the report stays as the worker would first find it.
    return Report.objects.create(tenant_id=tenant.id, framework="soc2", since=now - timedelta(days=1), until=now)


def test_it_accepts_a_report_request_and_builds_it(requested):
    assert requested["id"].startswith("rpt_")
    assert (requested["object"], requested["framework"], requested["status"]) == ("report", "eu_ai_act", "ready")
    assert [f["control"] for f in requested["findings"]][:2] == ["EU AI Act Art. 12", "EU AI Act Art. 12"]
    assert all(set(f) == {"control", "title", "status", "evidence"} for f in requested["findings"])
    assert requested["findings"][0]["evidence"]["records"] == 1


def test_it_defaults_the_window_to_the_last_30_days(requested):
    since = timezone.datetime.fromisoformat(requested["since"])
    until = timezone.datetime.fromisoformat(requested["until"])

    assert until - since == timedelta(days=30)


def test_it_records_the_request_in_the_event_trail(requested, tenant):
    event = Event.objects.get(tenant_id=tenant.id, action="report.requested")

    assert (event.object_id, event.changes["framework"]["after"]) == (requested["id"], "eu_ai_act")


@pytest.mark.django_db(transaction=True)
def test_it_answers_a_built_report_at_once_without_a_broker(owner_api):
    """The embedded default: the task runs inline as soon as the request commits."""
    response = owner_api.post("/v1/reports", {"framework": "soc2"}, format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "ready"


def test_it_shows_a_pending_report_without_findings(owner_api, pending):
    body = owner_api.get(f"/v1/reports/{pending.id}").json()

    assert (body["status"], body["findings"], body["error"]) == ("pending", [], None)


def test_it_lists_reports_newest_first(owner_api, requested, pending):
    body = owner_api.get("/v1/reports").json()
    ready = owner_api.get("/v1/reports", {"status": "ready"}).json()

    assert [r["id"] for r in body["data"]] == [pending.id, requested["id"]]
    assert [r["id"] for r in ready["data"]] == [requested["id"]]


def test_it_downloads_a_pdf_whose_text_holds_the_findings(owner_api, requested):
    response = owner_api.get(f"/v1/reports/{requested['id']}/download", {"format": "pdf"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{requested["id"]}.pdf"'
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    for item in requested["findings"]:
        assert item["title"] in text
        assert item["control"] in text
    assert "unsealed_past_deadline" in text


def test_it_downloads_html(owner_api, requested):
    response = owner_api.get(f"/v1/reports/{requested['id']}/download", {"format": "html"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    page = response.content.decode()
    assert all(f["title"] in page for f in requested["findings"])
    assert 'class="status status-pass"' in page


def test_it_downloads_json(owner_api, requested):
    response = owner_api.get(f"/v1/reports/{requested['id']}/download", {"format": "json"})

    assert response.json() == requested


def test_it_escapes_tenant_data_in_the_html(owner_api, tenant, django_capture_on_commit_callbacks):
    record(tenant.id, timezone.now() - timedelta(minutes=5), provider_id="<script>alert(1)</script>")
    with django_capture_on_commit_callbacks(execute=True):
        report = owner_api.post("/v1/reports", {"framework": "soc2"}, format="json").json()

    page = owner_api.get(f"/v1/reports/{report['id']}/download", {"format": "html"}).content.decode()

    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_it_refuses_to_download_a_report_not_ready(owner_api, pending):
    response = owner_api.get(f"/v1/reports/{pending.id}/download")

    assert_error(response, 409, "invalid_request", "report_not_ready")


def test_it_refuses_an_unknown_download_format(owner_api, requested):
    response = owner_api.get(f"/v1/reports/{requested['id']}/download", {"format": "docx"})

    assert_error(response, 400, "invalid_request", "invalid_format")


@pytest.mark.parametrize(
    "body",
    [
        {"framework": "iso42001"},
        {},
        {"framework": "soc2", "since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        {"framework": "soc2", "colour": "blue"},
    ],
)
def test_it_refuses_bad_requests(owner_api, body):
    response = owner_api.post("/v1/reports", body, format="json")

    assert_error(response, 400, "invalid_request", "unknown_field" if "colour" in body else None)


def test_it_lets_a_viewer_read_but_not_request_reports(viewer_api, requested):
    assert viewer_api.get(f"/v1/reports/{requested['id']}").status_code == 200
    assert viewer_api.get(f"/v1/reports/{requested['id']}/download").status_code == 200
    response = viewer_api.post("/v1/reports", {"framework": "soc2"}, format="json")
    assert_error(response, 403, "forbidden", "insufficient_role")


def test_it_hides_reports_from_an_outsider(outsider_api, requested):
    assert outsider_api.get("/v1/reports").json()["data"] == []
    for path in (f"/v1/reports/{requested['id']}", f"/v1/reports/{requested['id']}/download"):
        assert_error(outsider_api.get(path), 404, "not_found")


@pytest.mark.parametrize("path", ["/v1/reports", "/v1/reports/rpt_x/download"])
def test_it_refuses_an_agent_key(agent_key_api, path):
    assert_error(agent_key_api.get(path), 403, "forbidden", "wrong_credential_type")


def test_it_builds_a_report_once(tenant, django_capture_on_commit_callbacks):
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        report = report_create(
            tenant_id=tenant.id, actor=SYSTEM, framework="nist_ai_rmf", since=now - timedelta(days=1), until=now
        )
    built = Report.objects.get(pk=report.pk)

    again = report_build(report_id=report.id)

    assert (again.status, again.completed_at, again.findings) == (
        ReportStatus.READY,
        built.completed_at,
        built.findings,
    )


def test_it_marks_a_report_failed_when_its_findings_cannot_be_computed(pending, monkeypatch):
    def broken(**kwargs):
        raise KeyError("boom")

    monkeypatch.setattr("analytics.services.report_findings", broken)

    report = report_build(report_id=pending.id)

    assert (report.status, report.findings) == (ReportStatus.FAILED, [])
    assert report.error == "the findings could not be computed (KeyError)"
