"""The console dashboard: figures and SVG charts of one tenant over a period, never another's."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from console.views.dashboard import PERIODS, period_of
from core.ids import new_id
from forensics.models import RequestLog
from tests.console.conftest import make_request_log

DASHBOARD = reverse("console:dashboard")


def chart_total(html: str, name: str) -> float:
    match = re.search(rf'<svg class="console-chart[^"]*" data-chart="{name}" data-total="([0-9.e+]+)"', html)
    assert match, f"no {name} chart"
    return float(match.group(1))


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}"><span class="caption">[^<]*</span><span class="figure">([^<]*)<', html)
    assert match, f"no {name} figure"
    return match.group(1)


@pytest.fixture
def traffic(owned):
    """Five requests of the owner's tenant in the last hour: three answered, two refused."""
    agent = owned.agent
    make_request_log(owned.tenant, agent, user="alice@example.com", model_requested="mock-small",
                     conversation_id="c1", prompt_tokens=10, completion_tokens=20, cost_usd=Decimal("0.01"),
                     latency_ms=100)  # fmt: skip
    make_request_log(owned.tenant, agent, user="alice@example.com", model_requested="mock-small",
                     conversation_id="c2", prompt_tokens=10, completion_tokens=20, latency_ms=200)  # fmt: skip
    make_request_log(owned.tenant, agent, user="bob@example.com", model_requested="smart-default",
                     prompt_tokens=1, completion_tokens=2, latency_ms=300)  # fmt: skip
    for _ in range(2):
        make_request_log(owned.tenant, agent, user="bob@example.com", status_code=429, error_code="rate_limited",
                         error_reason="requests_per_minute", prompt_tokens=0, completion_tokens=0)  # fmt: skip
    # An old request: inside 7 days, outside 24 hours.
    make_request_log(owned.tenant, agent, user="carol@example.com", created_at=timezone.now() - timedelta(days=3))
    return owned


def test_it_shows_the_figures_of_the_last_24_hours(owner_client, traffic):
    response = owner_client.get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    assert figure(html, "requests") == "6"  # the fixture's world brings one record of its own
    assert figure(html, "errors") == "2"
    assert chart_total(html, "requests") == 6
    assert chart_total(html, "tokens") == 10 + 20 + 10 + 20 + 1 + 2 + 3 + 5
    assert chart_total(html, "refusals") == 2
    assert "requests_per_minute" in html
    assert "$0.0100" in html


def test_it_draws_one_bucket_per_hour_or_day(owner_client, traffic):
    for key, period in PERIODS.items():
        html = owner_client.get(DASHBOARD, {"period": key}).content.decode()
        requests_svg = html.split('data-chart="requests"')[1].split("</svg>")[0]
        assert requests_svg.count('<g class="bucket"') == period.buckets, key


def test_it_counts_older_requests_in_longer_periods(owner_client, traffic):
    html = owner_client.get(DASHBOARD, {"period": "7d"}).content.decode()
    assert figure(html, "requests") == "7"
    assert "carol@example.com" in html


def test_it_ranks_top_users_models_and_agents(owner_client, traffic):
    html = owner_client.get(DASHBOARD).content.decode()
    users = html.split('data-chart="top-users"')[1].split("</svg>")[0]
    # Busiest first, ties by name; the world's own record is alice's.
    assert re.findall(r'data-label="([^"]+)" data-value="(\d+)"', users) == [
        ("alice@example.com", "3"), ("bob@example.com", "3"),
    ]  # fmt: skip
    models = html.split('data-chart="top-models"')[1].split("</svg>")[0]
    assert re.findall(r'data-label="([^"]+)" data-value="(\d+)"', models) == [
        ("mock-small", "5"), ("smart-default", "1"),
    ]  # fmt: skip
    agents = html.split('data-chart="top-agents"')[1].split("</svg>")[0]
    assert f'data-label="{traffic.agent.name}" data-value="6"' in agents
    top_users = html.split('id="top-users"')[1].split("</table>")[0]
    alice_row = top_users.split("alice@example.com</a>")[1].split("</tr>")[0]
    assert re.findall(r'<td class="number">([^<]*)</td>', alice_row)[:2] == ["3", "2"]  # requests, conversations


def test_it_counts_requests_by_endpoint(owner_client, traffic):
    for endpoint, count in (("messages", 2), ("responses", 1)):
        for _ in range(count):
            make_request_log(traffic.tenant, traffic.agent, endpoint=endpoint)
    html = owner_client.get(DASHBOARD).content.decode()
    endpoints = html.split('data-chart="endpoints"')[1].split("</svg>")[0]
    assert re.findall(r'data-label="([^"]+)" data-value="(\d+)"', endpoints) == [
        ("chat", "6"), ("messages", "2"), ("responses", "1"),
    ]  # fmt: skip


def test_it_falls_back_to_24_hours_for_an_unknown_period(owner_client, traffic):
    assert period_of("nonsense").key == "24h"
    assert owner_client.get(DASHBOARD, {"period": "1y"}).status_code == 200


def test_it_says_so_when_there_is_no_traffic(owner_client, tenant):
    html = owner_client.get(DASHBOARD).content.decode()
    assert "No requests in this period." in html
    assert figure(html, "requests") == "0"


def test_it_never_shows_another_tenants_traffic(stranger_client, traffic, foreign):
    html = stranger_client.get(DASHBOARD, {"tenant": traffic.tenant.pk, "period": "30d"}).content.decode()
    assert figure(html, "requests") == "1"  # the outsider's own world record only
    # (alice@example.com is in the outsider's own world record too.)
    # The refusal reason as the refusals table links it: the outsider's own policy may name the
    # same rule (requests_per_minute) in the limits table.
    for secret in ("bob@example.com", "carol@example.com", "reason=requests_per_minute", traffic.agent.name,
                   traffic.tenant.name, "smart-default"):  # fmt: skip
        assert secret not in html
    assert 'id="console-tenant-select"' not in html  # staff get no tenant selector


def test_a_superuser_picks_the_tenant(superuser_client, traffic, foreign):
    html = superuser_client.get(DASHBOARD, {"tenant": traffic.tenant.pk}).content.decode()
    assert figure(html, "requests") == "6"
    assert 'id="console-tenant-select"' in html
    assert f'<option value="{foreign.tenant.pk}"' in html
    # The choice is remembered for the next page without a parameter.
    html = superuser_client.get(DASHBOARD).content.decode()
    assert figure(html, "requests") == "6"
    html = superuser_client.get(DASHBOARD, {"tenant": foreign.tenant.pk}).content.decode()
    assert figure(html, "requests") == "1"
    assert "bob@example.com" not in html


def test_it_shows_the_top_users_of_a_tenant_with_more_than_10000_of_them(owner_client, owned):
    """The API refuses usage of more than 10,000 groups (SPEC 5.8); the dashboard shows the top few."""
    moment = timezone.now() - timedelta(minutes=5)
    RequestLog.objects.bulk_create(
        RequestLog(id=new_id("req"), tenant_id=owned.tenant.id, created_at=moment, endpoint="chat", status_code=200,
                   model_requested="mock-small", user=f"user{n:05}@example.com", latency_ms=1.0)
        for n in range(10_001)
    )  # fmt: skip

    response = owner_client.get(DASHBOARD)

    assert response.status_code == 200
    assert "user00000@example.com" in response.content.decode()


def test_it_draws_latency_percentiles_per_bucket(owner_client, traffic):
    html = owner_client.get(DASHBOARD).content.decode()
    svg = html.split('data-chart="latency"')[1].split("</svg>")[0]
    buckets = re.findall(r'<g class="bucket" data-label="[^"]+" data-values="([^"]+)"', svg)
    assert len(buckets) == PERIODS["24h"].buckets
    # The last hour holds every record of the fixture; the hours before it have no latency at all.
    assert buckets[:-1] == ["- -"] * (len(buckets) - 1)
    p50, p95 = (int(v) for v in buckets[-1].split())
    assert p50 <= p95
    assert "p95" in html.split('id="chart-latency"')[1].split("</section>")[0]


def test_it_breaks_the_latency_line_where_a_bucket_has_no_requests(owner_client, owned):
    make_request_log(owned.tenant, owned.agent, latency_ms=120, created_at=timezone.now() - timedelta(days=2))
    html = owner_client.get(DASHBOARD, {"period": "7d"}).content.decode()
    svg = html.split('data-chart="latency"')[1].split("</svg>")[0]
    # Two days with requests, five without: two lone points per line, no line through the gap.
    assert svg.count("<circle") == 4
    assert "<polyline" not in svg


def test_it_writes_numbers_with_thousands_separators(owner_client, owned):
    make_request_log(owned.tenant, owned.agent, prompt_tokens=700_000, completion_tokens=96_705,
                     cost_usd=Decimal("1234.5"), latency_ms=1_250)  # fmt: skip
    RequestLog.objects.bulk_create(
        RequestLog(id=new_id("req"), tenant_id=owned.tenant.id, created_at=timezone.now(), endpoint="chat",
                   status_code=200, user="bulk@example.com", latency_ms=1.0)
        for _ in range(1_094)
    )  # fmt: skip
    html = owner_client.get(DASHBOARD).content.decode()
    assert figure(html, "requests") == "1,096"  # with the world's own record
    assert figure(html, "tokens") == "796,713"
    assert figure(html, "cost") == "$1,234.50"
    top_users = html.split('id="top-users"')[1].split("</table>")[0]
    assert '<td class="number">1,094</td>' in top_users
    assert "$1,234.50" in top_users


def test_it_shows_unpriced_requests_rather_than_a_free_cost(owner_client, owned):
    make_request_log(owned.tenant, owned.agent, model_requested="house-model", cost_usd=None)
    make_request_log(owned.tenant, owned.agent, model_requested="mock-small", cost_usd=Decimal("0.25"))
    html = owner_client.get(DASHBOARD).content.decode()

    assert figure(html, "cost") == "$0.2500"
    assert 'data-unpriced="1"' in html
    assert "at least · 1 unpriced request" in html
    house = re.search(r"<tr><td>house-model</td>.*?</tr>", html, re.S)
    assert house, "no house-model row"
    assert "unpriced" in house.group(0)


def test_it_shows_a_cost_of_only_unpriced_requests_as_unpriced(owner_client, owned):
    RequestLog.objects.filter(tenant_id=owned.tenant.id).delete()
    make_request_log(owned.tenant, owned.agent, model_requested="house-model", cost_usd=None)

    html = owner_client.get(DASHBOARD).content.decode()

    assert figure(html, "cost") == "unpriced"


def test_a_record_without_a_price_says_unpriced(owner_client, owned):
    record = make_request_log(owned.tenant, owned.agent, model_requested="house-model", cost_usd=None)

    html = owner_client.get(reverse("console:log", args=[record.id])).content.decode()

    cost = re.search(r'<tr data-field="cost_usd">.*?</tr>', html, re.S)
    assert cost, "no cost_usd row"
    assert "unpriced" in cost.group(0)
