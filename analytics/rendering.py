"""A ready report as a document: HTML through a Django template, PDF through ReportLab.

Both show the same lines: each finding's status, title, control and evidence, the evidence
flattened into ``name: value`` pairs (nested values as indented JSON).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any
from xml.sax.saxutils import escape

from django.template.loader import render_to_string
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Preformatted, SimpleDocTemplate, Spacer, Table, TableStyle

from analytics.models import Report
from tenants.models import Tenant

STATUS_COLOURS = {"pass": "#116329", "attention": "#7d4e00", "fail": "#a40e26"}


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def evidence_lines(evidence: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, {"text", "multiline"})]`` for one finding's evidence."""
    lines = []
    for name, value in evidence.items():
        if isinstance(value, dict | list) and value:
            flat = isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)
            if flat:
                lines.append((name, {"text": ", ".join(str(v) for v in value), "multiline": False}))
            else:
                lines.append((name, {"text": json.dumps(value, indent=2, ensure_ascii=False), "multiline": True}))
        elif value is None or value == [] or value == {}:
            lines.append((name, {"text": "none", "multiline": False}))
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            lines.append((name, {"text": text, "multiline": False}))
    return lines


def _context(report: Report) -> dict[str, Any]:
    findings = [{**finding, "evidence_lines": evidence_lines(finding["evidence"])} for finding in report.findings]
    summary = Counter(finding["status"] for finding in report.findings)
    return {
        "report": report,
        "tenant_name": Tenant.objects.filter(pk=report.tenant_id).values_list("name", flat=True).first() or "",
        "since": _stamp(report.since),
        "until": _stamp(report.until),
        "completed_at": _stamp(report.completed_at),
        "summary": {status: summary.get(status, 0) for status in ("pass", "attention", "fail")},
        "findings": findings,
    }


def report_html(report: Report) -> str:
    return render_to_string("analytics/report.html", _context(report))


def report_pdf(report: Report) -> bytes:
    """A PDF of the report; text is selectable (and extractable), not drawn as images."""
    context = _context(report)
    styles = getSampleStyleSheet()
    body = ParagraphStyle("evidence", parent=styles["BodyText"], fontSize=8.5, leading=10.5)
    mono = ParagraphStyle("json", parent=body, fontName="Courier", fontSize=7.5, leading=9)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm,
        title=f"{report.get_framework_display()} report {report.id}", author="aidgate",
    )  # fmt: skip
    summary = context["summary"]
    story: list[Any] = [
        Paragraph(escape(f"{report.get_framework_display()} compliance report"), styles["Title"]),
        Paragraph(
            escape(
                f"Report {report.id} - tenant {context['tenant_name']} - records from {context['since']} "
                f"to {context['until']} (UTC) - built {context['completed_at']}"
            ),
            styles["BodyText"],
        ),
        Paragraph(
            escape(f"pass: {summary['pass']}   attention: {summary['attention']}   fail: {summary['fail']}"),
            styles["BodyText"],
        ),
        Spacer(1, 4 * mm),
    ]
    heading = ParagraphStyle("finding", parent=styles["Heading3"], spaceAfter=2)
    for finding in context["findings"]:
        colour = STATUS_COLOURS.get(finding["status"], "#000000")
        title = (
            f'<font color="{colour}"><b>{escape(finding["status"].upper())}</b></font> '
            f"{escape(finding['title'])} ({escape(finding['control'])})"
        )
        simple = [(name, value) for name, value in finding["evidence_lines"] if not value["multiline"]]
        nested = [(name, value) for name, value in finding["evidence_lines"] if value["multiline"]]
        rows = [[Paragraph(escape(name), body), Paragraph(escape(value["text"]), body)] for name, value in simple]
        block: list[Any] = [Paragraph(title, heading)]
        if rows:
            table = Table(rows, colWidths=[55 * mm, None])
            table.setStyle(
                TableStyle(
                    [
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d1d9e0")),
                    ]
                )
            )
            block.append(table)
        story.append(KeepTogether(block))
        # Nested evidence (per-app models, refusals by reason) can run longer than a page:
        # preformatted text splits across pages, a table cell would not.
        for name, value in nested:
            story.append(Paragraph(escape(name), body))
            story.append(Preformatted(value["text"], mono))
        story.append(Spacer(1, 3 * mm))
    document.build(story)
    return buffer.getvalue()
