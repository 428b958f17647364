"""Console pages of compliance reports: request one, follow it, download it as HTML or PDF.

Rollup rows are derived data and have no page: usage is read through the API (and the
dashboard), and an operator rebuilds rollups with ``analytics.services.usage_rollup_rebuild``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from analytics.models import Report, ReportStatus
from analytics.rendering import evidence_lines, report_html, report_pdf
from analytics.report_requests import report_create
from analytics.services import report_delete
from core.actors import Actor
from core.admin_forms import TenantScopedForm
from tenants.admin_base import TenantScopedAdmin


def _default_until():
    return timezone.now().replace(microsecond=0)


def _default_since():
    return _default_until() - timedelta(days=30)


class ReportAddForm(TenantScopedForm):
    since = forms.DateTimeField(initial=_default_since)
    until = forms.DateTimeField(initial=_default_until)

    class Meta:
        model = Report
        fields = ["framework", "since", "until"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since >= until:
            raise ValidationError({"until": "must be after since"})
        return cleaned


@admin.register(Report)
class ReportAdmin(TenantScopedAdmin):
    """Reports are requested here or through the API and built by a worker; never edited."""

    add_form = ReportAddForm
    add_fieldsets = [(None, {"fields": ["framework", "since", "until"]})]
    fieldsets = [
        (None, {"fields": ["id", "framework", "status", "since", "until", "created_at", "completed_at", "error"]}),
        ("Findings", {"fields": ["findings_table", "downloads"]}),
    ]
    readonly_fields = [
        "id", "framework", "status", "since", "until", "created_at", "completed_at", "error", "findings_table",
        "downloads",
    ]  # fmt: skip
    list_display = ["id", "framework", "status", "since", "until", "created_at", "downloads", "tenant"]
    list_filter = ["framework", "status"]
    list_select_related = ["tenant"]
    search_fields = ["=id"]

    def has_change_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Report | None = None) -> list[str]:
        # The add form asks for framework and window; a report, once requested, is read only.
        return super().get_readonly_fields(request, obj) if obj is not None else []

    def service_create(self, request: HttpRequest, obj: Report, form: forms.ModelForm, actor: Actor) -> Report:
        data = form.cleaned_data
        return report_create(
            tenant_id=obj.tenant_id, actor=actor, framework=data["framework"], since=data["since"], until=data["until"]
        )

    def service_delete(self, request: HttpRequest, obj: Report, actor: Actor) -> None:
        report_delete(report=obj, actor=actor)

    def get_urls(self) -> list:
        download = self.admin_site.admin_view(self.download_view)
        return [
            path("<str:report_id>/download/<str:fmt>/", download, name="analytics_report_download"),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, report_id: str, fmt: str) -> HttpResponse:
        # get_queryset is tenant-scoped: another tenant's report is as unknown as a made-up id.
        report = self.get_queryset(request).filter(pk=report_id).first()
        if report is None or not self.has_view_permission(request, report) or fmt not in ("html", "pdf"):
            raise Http404("no such report")
        if report.status != ReportStatus.READY:
            raise Http404("the report is not ready")
        if fmt == "html":
            return HttpResponse(report_html(report), content_type="text/html; charset=utf-8")
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report.id}.pdf"'
        return response

    @admin.display(description="download")
    def downloads(self, obj: Report) -> str:
        if obj.status != ReportStatus.READY:
            return "-"
        html = reverse("admin:analytics_report_download", args=[obj.pk, "html"])
        pdf = reverse("admin:analytics_report_download", args=[obj.pk, "pdf"])
        return format_html('<a href="{}">HTML</a> · <a href="{}">PDF</a>', html, pdf)

    @admin.display(description="findings")
    def findings_table(self, obj: Report) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f["status"], f["control"], f["title"], self._evidence(f)) for f in obj.findings),
        )  # fmt: skip
        return format_html(
            "<table><tr><th>status</th><th>control</th><th>finding</th><th>evidence</th></tr>{}</table>", rows
        )

    @staticmethod
    def _evidence(finding: dict[str, Any]) -> str:
        lines = evidence_lines(finding["evidence"])
        return format_html_join("", "<div><b>{}</b>: <code>{}</code></div>", ((n, v["text"]) for n, v in lines))
