"""``manage.py demo --history``: a week of synthetic traffic, sealed into a chain that verifies,
rolled up, on the dashboard; written only by the run that creates the demo tenant."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.models import UsageRollup, UsageRollupState
from analytics.selectors import usage_summary
from forensics.models import RequestLog
from forensics.sealing import audit_chain_verify
from provisioning.demo_history import demo_records
from tenants.models import Tenant
from tests import factories


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def demo_tenant() -> Tenant:
    return Tenant.objects.get(name="Demo")


def test_it_writes_a_week_of_records_sealed_into_a_chain_that_verifies(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        output = run("--history")
    tenant = demo_tenant()
    records = RequestLog.objects.filter(tenant_id=tenant.id)
    count = records.count()
    assert count > 500
    assert f"history    {count:,} synthetic requests" in output
    assert not records.filter(sealed_at__isnull=True).exists()
    oldest = records.order_by("created_at").first().created_at
    assert 6 < (timezone.now() - oldest).days + 1 <= 7 + 1
    verdict = audit_chain_verify(tenant_id=tenant.id)
    assert (verdict.valid, verdict.checked) == (True, count)
    # The command an operator runs exits zero (it raises on a broken chain).
    out = StringIO()
    call_command("verify_audit", "--tenant", tenant.id, stdout=out)
    assert f"valid, {count} records checked" in out.getvalue()


def test_it_rolls_the_history_up(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run("--history")
    tenant = demo_tenant()
    assert UsageRollup.objects.filter(tenant_id=tenant.id).exists()
    assert UsageRollupState.objects.get(tenant_id=tenant.id).through_seq > 0
    since = timezone.now() - timedelta(days=8)
    summary = usage_summary(tenant_id=tenant.id, since=since, until=timezone.now(), group_by="day")
    assert summary.totals.requests == RequestLog.objects.filter(tenant_id=tenant.id).count()
    assert summary.totals.cost_usd > 0  # the priced models cost something


def test_it_fills_the_dashboard(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run("--history")
    tenant = demo_tenant()
    client = Client()
    client.force_login(factories.make_console_user(tenant, role="viewer"))
    html = client.get(reverse("console:dashboard"), {"period": "7d"}).content.decode()
    requests = re.search(
        r'data-figure="requests"><span class="caption">[^<]*</span><span class="figure">([^<]*)<', html
    )
    assert int(requests.group(1).replace(",", "")) > 500
    assert "No requests in this period." not in html
    assert re.search(r'data-chart="latency" data-points="(\d+)"', html).group(1) != "0"
    # The demo's policy gives the bars something to measure.
    assert re.search(r'<tr data-rule="daily_token_budget"[^>]*data-used="[1-9]', html)


def test_it_writes_the_history_only_when_it_creates_the_demo_tenant(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run("--history")
    tenant = demo_tenant()
    count = RequestLog.objects.filter(tenant_id=tenant.id).count()
    output = run("--history")
    assert "history    skipped: the demo tenant already existed" in output
    assert RequestLog.objects.filter(tenant_id=tenant.id).count() == count
    assert audit_chain_verify(tenant_id=tenant.id).valid


def test_without_history_the_demo_tenant_stays_empty(db):
    run()
    assert not RequestLog.objects.filter(tenant_id=demo_tenant().id).exists()


def test_the_synthetic_traffic_is_deterministic_and_plausible():
    now = timezone.now()
    ids = {"tenant_id": "tn_x", "app_id": "app_x", "agent_id": "ag_x", "key_id": "key_x", "provider_id": "prov_x"}
    first = demo_records(**ids, policy_ids=[], prices=[], now=now)
    second = demo_records(**ids, policy_ids=[], prices=[], now=now)
    strip = [{k: v for k, v in r.items() if k != "id"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "id"} for r in second]
    assert all(r["created_at"] < now for r in first)
    statuses = {r["status_code"] for r in first}
    assert {200, 429} <= statuses
    refused = [r for r in first if r["status_code"] in (403, 429)]
    assert all(r["prompt_tokens"] == r["completion_tokens"] == 0 for r in refused)
