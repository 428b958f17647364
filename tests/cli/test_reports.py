"""``aidgate usage`` and ``aidgate reports …``: totals, reports built, awaited and downloaded."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta

from django.utils import timezone

from analytics.models import Report, ReportStatus
from tests.cli.support import AIDGATE


def test_it_shows_usage_totals(org):
    org.traffic(2)
    usage = org.ok("usage")
    assert (usage["totals"]["requests"], usage["totals"]["errors"]) == (2, 0)


def test_it_groups_usage_in_a_table(org):
    org.traffic(2)
    result = org.run("usage", "--group-by", "model")
    assert result.code == 0, result
    header, row = result.stdout.splitlines()[1:]
    assert header.split()[:2] == ["MODEL", "REQUESTS"]
    assert row.split()[:2] == ["mock-small", "2"]


def test_it_shows_one_agents_usage(org):
    org.traffic(1)
    agent_id = org.ok("logs", "list")[0]["agent_id"]
    assert org.ok("usage", "--agent", agent_id)["totals"]["requests"] == 1
    assert org.run("usage", "--agent", "ag_doesnotexist1234").code == 6


def test_it_creates_and_shows_a_report(org):
    report = org.ok("reports", "create", "eu_ai_act")
    assert report["id"].startswith("rpt_")
    assert report["framework"] == "eu_ai_act"
    shown = org.run("reports", "show", report["id"])
    assert shown.code == 0, shown
    assert "CONTROL" in shown.stdout


def test_it_waits_for_a_report_with_progress(org):
    now = timezone.now()
    report = Report.objects.create(tenant=org.tenant, framework="soc2", since=now - timedelta(days=1), until=now)
    environment = {"AIDGATE_URL": org.url, "AIDGATE_ORG_KEY": org.admin_secret, "PATH": "/usr/bin:/bin"}
    waiting = subprocess.Popen(
        [str(AIDGATE), "reports", "show", report.id, "--wait", "--progress", "--json"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    assert waiting.poll() is None, waiting.communicate()
    Report.objects.filter(id=report.id).update(status=ReportStatus.READY, completed_at=timezone.now())
    stdout, stderr = waiting.communicate(timeout=20)
    assert waiting.returncode == 0, stderr
    assert json.loads(stdout)["status"] == "ready"
    assert f"report {report.id}: pending" in stderr
    assert f"report {report.id}: ready" in stderr


def test_it_exits_1_when_the_report_failed(org):
    now = timezone.now()
    report = Report.objects.create(tenant=org.tenant, framework="soc2", since=now - timedelta(days=1), until=now,
                                   status=ReportStatus.FAILED, error="no records")  # fmt: skip
    assert org.run("reports", "show", report.id, "--wait").code == 1
    result = org.run("reports", "download", report.id, "--wait")
    assert result.code == 1
    assert "no records" in result.stderr


def test_it_downloads_a_report(org):
    report = org.ok("reports", "create", "soc2")
    result = org.run("reports", "download", report["id"])
    assert result.code == 0, result
    assert (org.cwd / f"{report['id']}.pdf").read_bytes().startswith(b"%PDF")
    assert org.run("reports", "download", report["id"], "--format", "html", "-o", "r.html").code == 0
    assert "<html" in (org.cwd / "r.html").read_text().lower()


def test_it_exits_7_on_a_report_not_ready(org):
    now = timezone.now()
    report = Report.objects.create(tenant=org.tenant, framework="soc2", since=now - timedelta(days=1), until=now)
    result = org.run("reports", "download", report.id)
    assert result.code == 7
    assert "report_not_ready" in result.stderr
    assert list(org.cwd.iterdir()) == []
