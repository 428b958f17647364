"""Budget and rate-limit use (console/limit_usage.py) and its bars on the dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.urls import reverse
from django.utils import timezone

from console.limit_usage import limit_use_list
from tests import factories
from tests.console.conftest import make_request_log

DASHBOARD = reverse("console:dashboard")


def uses(groups, rule):
    return {(u.subject_kind, u.subject_id): (u.used, u.limit) for g in groups if g.rule == rule for u in g.subjects}


def test_it_counts_an_agents_tokens_of_the_current_day_against_its_daily_budget(owned):
    now = timezone.now()
    policy = factories.make_policy(owned.tenant, agent_ids=[owned.agent.id], daily_token_budget=1_000_000)
    make_request_log(owned.tenant, owned.agent, prompt_tokens=400_000, completion_tokens=96_713, created_at=now)
    # Yesterday's tokens are another period's.
    make_request_log(owned.tenant, owned.agent, prompt_tokens=999, created_at=now - timedelta(days=1, hours=1))
    groups = limit_use_list(tenant_id=owned.tenant.id, now=now)
    group = next(g for g in groups if g.policy_id == policy.id)
    assert group.rule == "daily_token_budget"
    assert group.period.startswith(now.strftime("%Y-%m-%d"))
    # The world's own record (3 + 5 tokens, a moment ago) is the same agent's.
    assert uses([group], "daily_token_budget") == {("agent", owned.agent.id): (496_713 + 8, 1_000_000)}


def test_it_counts_the_month_in_the_policys_time_zone(owned):
    # 23:30 UTC on the last day of a month is already the next month in Tokyo.
    now = datetime(2025, 11, 30, 23, 30, tzinfo=UTC)
    factories.make_policy(owned.tenant, agent_ids=[owned.agent.id], monthly_token_budget=100, timezone="Asia/Tokyo")
    make_request_log(
        owned.tenant, owned.agent, prompt_tokens=40, completion_tokens=0, created_at=now - timedelta(hours=9)
    )
    make_request_log(
        owned.tenant, owned.agent, prompt_tokens=7, completion_tokens=0, created_at=now - timedelta(minutes=5)
    )
    groups = limit_use_list(tenant_id=owned.tenant.id, now=now)
    # Tokyo's December began at 15:00 UTC: only the second record is in it.
    assert uses(groups, "monthly_token_budget") == {("agent", owned.agent.id): (7, 100)}
    assert next(g for g in groups if g.rule == "monthly_token_budget").period == "2025-12 (Asia/Tokyo)"


def test_it_counts_end_users_and_keys_within_the_policys_reach_only(owned):
    now = timezone.now()
    other_agent = factories.make_agent(owned.tenant)
    other_key, _ = factories.make_key(other_agent)
    factories.make_policy(owned.tenant, agent_ids=[owned.agent.id], user_daily_token_budget=1_000,
                          user_requests_per_minute=10, tokens_per_minute=500)  # fmt: skip
    make_request_log(owned.tenant, owned.agent, user="bob@example.com", key_id=owned.key.id, prompt_tokens=90,
                     completion_tokens=10, created_at=now - timedelta(seconds=10))  # fmt: skip
    # Outside the reach: another agent's request, and the same user through it.
    make_request_log(owned.tenant, other_agent, user="bob@example.com", key_id=other_key.id, prompt_tokens=5000,
                     created_at=now - timedelta(seconds=5))  # fmt: skip
    # Older than a minute: counts for the day, not for the minute.
    make_request_log(owned.tenant, owned.agent, user="bob@example.com", key_id=owned.key.id, prompt_tokens=1,
                     completion_tokens=0, created_at=now - timedelta(minutes=3))  # fmt: skip
    groups = limit_use_list(tenant_id=owned.tenant.id, now=now)
    assert uses(groups, "user_daily_token_budget")[("user", "bob@example.com")] == (101, 1_000)
    assert uses(groups, "user_requests_per_minute")[("user", "bob@example.com")] == (1, 10)
    assert uses(groups, "tokens_per_minute") == {("key", owned.key.id): (100, 500)}
    # The world's policy (60 requests a minute for the world's agent and app).
    assert uses(groups, "requests_per_minute")[("key", owned.key.id)][1] == 60


def test_it_shows_a_keys_own_rate_limit(owned):
    key, _ = factories.make_key(owned.agent, rate_limit=5)
    for _ in range(2):
        make_request_log(owned.tenant, owned.agent, key_id=key.id)
    groups = limit_use_list(tenant_id=owned.tenant.id, now=timezone.now())
    assert uses(groups, "rate_limit") == {("key", key.id): (2, 5)}


def test_it_skips_disabled_policies_and_never_counts_another_tenants_records(owned, foreign):
    now = timezone.now()
    factories.make_policy(owned.tenant, tenant_wide=True, enabled=False, daily_token_budget=10)
    factories.make_policy(owned.tenant, tenant_wide=True, user_daily_token_budget=10_000)
    make_request_log(foreign.tenant, foreign.agent, user="alice@example.com", prompt_tokens=777)
    groups = limit_use_list(tenant_id=owned.tenant.id, now=now)
    assert "daily_token_budget" not in {g.rule for g in groups}
    assert uses(groups, "user_daily_token_budget") == {("user", "alice@example.com"): (8, 10_000)}


def test_the_dashboard_draws_each_use_as_a_bar_against_its_limit(owner_client, owned):
    factories.make_policy(owned.tenant, name="Spend cap", agent_ids=[owned.agent.id], daily_token_budget=2_000_000)
    make_request_log(owned.tenant, owned.agent, prompt_tokens=1_500_000, completion_tokens=92)
    html = owner_client.get(DASHBOARD).content.decode()
    row = re.search(r'<tr data-rule="daily_token_budget".*?</tr>', html, re.S).group(0)
    assert "Spend cap" in row
    assert re.search(r'<meter min="0" max="2000000" [^>]*value="1500100"', row)
    assert "1,500,100 / 2,000,000 tokens" in row
    assert "75%" in row


def test_the_dashboard_says_so_when_no_limit_is_set(owner_client, tenant):
    html = owner_client.get(DASHBOARD).content.decode()
    assert "No enabled policy sets a budget or a per-minute limit" in html
