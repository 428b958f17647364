"""Compliance reports: request one, follow its status, download it as HTML or PDF.

Reports are created by :func:`analytics.report_requests.report_create` and built by a worker (inline
without a broker); the downloads are the report admin's views, which check the tenant again.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from analytics.models import Framework, ReportStatus
from analytics.report_requests import report_create
from analytics.selectors import report_list
from console.access import ConsoleRequest, console_context, console_page
from core.admin_refusals import refusal_text
from tenants.access import console_actor

REPORT_WINDOWS = {"7": "last 7 days", "30": "last 30 days", "90": "last 90 days", "365": "last 365 days"}
LISTED = 50


class ReportRequestForm(forms.Form):
    framework = forms.ChoiceField(choices=Framework.choices)
    window = forms.ChoiceField(choices=list(REPORT_WINDOWS.items()), initial="30", label="Period")


@console_page
def report_list_view(request: ConsoleRequest) -> HttpResponse:
    tenant_id = request.console.tenant_id
    form = ReportRequestForm(request.POST or None)
    if request.method == "POST":
        if not request.console.can_write:
            raise PermissionDenied
        if form.is_valid():
            until = timezone.now().replace(microsecond=0)
            since = until - timedelta(days=int(form.cleaned_data["window"]))
            try:
                report = report_create(
                    tenant_id=tenant_id, actor=console_actor(request), framework=form.cleaned_data["framework"],
                    since=since, until=until,
                )  # fmt: skip
            except ValidationError as error:
                messages.error(request, refusal_text(error))
            else:
                messages.success(request, f"Report {report.id} requested; it is built in the background.")
            query = f"?{request.console.query()}" if request.console.query() else ""
            return HttpResponseRedirect(reverse("console:reports") + query)
    reports = list(report_list(tenant_id=tenant_id)[:LISTED])
    context = {
        "title": "Compliance reports",
        "console_section": "reports",
        "form": form,
        "reports": reports,
        "pending": any(r.status == ReportStatus.PENDING for r in reports),
    }
    return TemplateResponse(request, "console/reports.html", console_context(request, **context))
