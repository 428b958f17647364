"""Reports in the console (SPEC 7): listed, requested and downloaded within the user's tenant only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import Report
from analytics.services import report_build
from tests import factories
from tests.analytics.support_pdf import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(tenant) -> Report:
    now = timezone.now()
    report = Report.objects.create(
        tenant_id=tenant.id, framework="nist_ai_rmf", since=now - timedelta(days=1), until=now
    )
    return report_build(report_id=report.id)


def console(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_lists_and_downloads_a_report_for_the_tenants_staff(tenant, ready):
    client = console(factories.make_console_user(tenant, role="viewer"))

    listing = client.get("/admin/analytics/report/")
    pdf = client.get(f"/admin/analytics/report/{ready.id}/download/pdf/")
    html = client.get(f"/admin/analytics/report/{ready.id}/download/html/")

    assert listing.status_code == 200
    assert ready.id in listing.content.decode()
    assert pdf.content.startswith(b"%PDF")
    assert "NIST AI RMF MEASURE 2.7" in pdf_text(pdf.content)
    assert "NIST AI RMF GOVERN 2.1" in html.content.decode()


def test_it_hides_a_report_from_another_tenants_staff(outsider, ready):
    client = console(factories.make_console_user(outsider))

    assert client.get(f"/admin/analytics/report/{ready.id}/download/pdf/").status_code == 404
    assert ready.id not in client.get("/admin/analytics/report/").content.decode()


def test_it_requests_a_report_from_the_console(tenant, django_capture_on_commit_callbacks):
    client = console(factories.make_console_user(tenant, role="admin"))
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/analytics/report/add/",
            {
                "framework": "soc2",
                "since": (now - timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S"),
                "until": now.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    report = Report.objects.get(tenant_id=tenant.id)
    assert (report.framework, Report.objects.get(pk=report.pk).status) == ("soc2", "ready")
