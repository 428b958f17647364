"""Links from the console pages to the Django admin's change pages.

The admin reads an object id in its URL through ``django.contrib.admin.utils.unquote``, which
turns ``_2F`` into ``/`` (and ``_5F`` into ``_``, and so on for about twenty codes). Our ids are
a prefix, ``_`` and base62 characters, so one id in about 190 starts its random part with such
a code; a link built from the raw id sends its reader to "does not exist" on the admin's index.
Every link is built with the admin's own quoting, as the admin builds its own.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from analytics.models import Framework, Report, ReportStatus
from apps.models import App

# A random part that begins with an admin escape code: "_2F" unquotes to "/".
ESCAPED = "2Fabcdefghijklmn"


def test_it_links_an_app_whose_id_reads_as_an_admin_escape_to_its_change_page(owner_client, owned):
    app = App.objects.create(id=f"app_{ESCAPED}", tenant=owned.tenant, name="Escaped", slug="escaped")
    html = owner_client.get(reverse("console:app-token-check", args=[app.pk])).content.decode()

    change = reverse("admin:apps_app_change", args=[quote(app.pk)])
    assert f'href="{change}"' in html
    assert owner_client.get(change).status_code == 200


def test_it_links_a_report_whose_id_reads_as_an_admin_escape_to_its_change_page(owner_client, owned):
    now = timezone.now()
    report = Report.objects.create(
        id=f"rpt_{ESCAPED}", tenant=owned.tenant, framework=Framework.SOC2, since=now - timedelta(days=30),
        until=now, status=ReportStatus.READY,
    )  # fmt: skip
    html = owner_client.get(reverse("console:reports")).content.decode()

    change = reverse("admin:analytics_report_change", args=[quote(report.pk)])
    assert f'href="{change}"' in html
    assert owner_client.get(change).status_code == 200
