"""Every refusal of SPEC 3.4, one test each, plus strictest-wins and the rate-limit headers."""

from __future__ import annotations

import pytest

from core.actors import SYSTEM
from forensics.models import RequestLog
from identity.services import agent_update
from tests import factories
from tests.policies.conftest import call


@pytest.fixture
def mock_world(world):
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    return world


def refusal(response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["reason"]


def test_it_refuses_a_model_outside_a_policys_allowed_models(mock_world):
    factories.make_policy(mock_world.tenant, tenant_wide=True, allowed_models=["gpt-*"])
    assert refusal(call(mock_world)) == (403, "forbidden", "model_not_allowed")


def test_it_intersects_allowed_model_lists(mock_world):
    factories.make_policy(mock_world.tenant, tenant_wide=True, allowed_models=["mock-*"])
    agent_update(agent=mock_world.agent, actor=SYSTEM, data={"allowed_models": ["mock-2"]})
    assert refusal(call(mock_world, "mock-1")) == (403, "forbidden", "model_not_allowed")
    assert call(mock_world, "mock-2").status_code == 200


def test_it_refuses_an_endpoint_outside_allowed_endpoints(mock_world):
    factories.make_policy(mock_world.tenant, app_ids=[mock_world.app.id], allowed_endpoints=["embeddings"])
    assert refusal(call(mock_world)) == (403, "forbidden", "endpoint_not_allowed")
    assert call(mock_world, path="/v1/models").status_code == 403


def test_it_refuses_past_requests_per_minute_with_retry_after(mock_world, gateway_clock):
    factories.make_policy(mock_world.tenant, tenant_wide=True, requests_per_minute=2)
    first, second, third = (call(mock_world) for _ in range(3))
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert refusal(third) == (429, "rate_limited", "requests_per_minute")
    assert int(third.headers["retry-after"]) == 60
    assert third.headers["x-ratelimit-remaining-requests"] == "0"


def test_it_opens_the_window_again_after_a_minute(mock_world, gateway_clock):
    factories.make_policy(mock_world.tenant, tenant_wide=True, requests_per_minute=1)
    assert call(mock_world).status_code == 200
    gateway_clock.advance(30)
    refused = call(mock_world)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 30
    gateway_clock.advance(30.001)
    assert call(mock_world).status_code == 200


def test_the_keys_own_rate_limit_acts_as_one_more_policy(mock_world, gateway_clock):
    _, secret = factories.make_key(mock_world.agent, rate_limit=1)
    assert call(mock_world, headers={"X-API-Key": secret}).status_code == 200
    assert refusal(call(mock_world, headers={"X-API-Key": secret}))[2] == "requests_per_minute"
    # Another key of the same agent has its own counter.
    assert call(mock_world).status_code == 200


def test_the_strictest_value_wins_between_two_policies(mock_world, gateway_clock):
    factories.make_policy(mock_world.tenant, tenant_wide=True, requests_per_minute=5)
    factories.make_policy(mock_world.tenant, agent_ids=[mock_world.agent.id], requests_per_minute=2)
    statuses = [call(mock_world).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_disabled_policy_applies_nowhere(mock_world, gateway_clock):
    factories.make_policy(mock_world.tenant, tenant_wide=True, requests_per_minute=1, enabled=False)
    assert [call(mock_world).status_code for _ in range(2)] == [200, 200]


def test_it_refuses_past_tokens_per_minute(mock_world, gateway_clock):
    factories.make_policy(mock_world.tenant, tenant_wide=True, tokens_per_minute=5)
    assert call(mock_world, max_tokens=10).status_code == 200  # below the limit when admitted
    assert refusal(call(mock_world, max_tokens=10)) == (429, "rate_limited", "tokens_per_minute")
    gateway_clock.advance(61)
    assert call(mock_world, max_tokens=10).status_code == 200


def test_it_refuses_past_max_concurrent_requests(mock_world):
    import concurrent.futures

    factories.make_provider(
        mock_world.tenant, kind="mock", models=["slow-*"], extra_headers={"X-Mock-Latency-Ms": "600"}
    )
    factories.make_policy(mock_world.tenant, tenant_wide=True, max_concurrent_requests=2)
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda _: call(mock_world, "slow-1"), range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 429, 429, 429]
    assert {refusal(r)[2] for r in responses if r.status_code == 429} == {"concurrency"}
    # Leases are released when requests end.
    assert call(mock_world, "slow-1").status_code == 200


def test_it_refuses_past_user_requests_per_minute(mock_world, gateway_clock):
    from apps.services import app_update

    app_update(app=mock_world.app, actor=SYSTEM, data={"identity_header_mode": True})
    factories.make_policy(mock_world.tenant, tenant_wide=True, user_requests_per_minute=1)
    alice, bob = {"X-User-Email": "alice@example.com"}, {"X-User-Email": "bob@example.com"}
    assert call(mock_world, headers=alice).status_code == 200
    assert refusal(call(mock_world, headers=alice)) == (429, "rate_limited", "user_requests_per_minute")
    assert call(mock_world, headers=bob).status_code == 200


@pytest.mark.parametrize(
    ("field", "reason"), [("daily_token_budget", "daily_tokens"), ("monthly_token_budget", "monthly_tokens")]
)
def test_it_refuses_once_the_agents_budget_is_used_up(mock_world, gateway_clock, field, reason):
    factories.make_policy(mock_world.tenant, tenant_wide=True, **{field: 5})
    first = call(mock_world, max_tokens=20)  # admitted below the budget; its 6 tokens cross it
    assert first.status_code == 200
    refused = call(mock_world, max_tokens=1)
    assert refusal(refused) == (429, "budget_exceeded", reason)
    assert int(refused.headers["retry-after"]) >= 1


def test_the_daily_budget_resets_at_midnight_in_the_policys_timezone(mock_world, gateway_clock):
    factories.make_policy(mock_world.tenant, tenant_wide=True, daily_token_budget=5, timezone="Asia/Tokyo")
    gateway_clock.now = 1_900_000_000.0 - (17 * 3600 + 46 * 60 + 40) + 14 * 3600 + 59 * 60  # 23:59 in Tokyo
    assert call(mock_world, max_tokens=10).status_code == 200
    refused = call(mock_world, max_tokens=1)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 60
    gateway_clock.advance(60)  # 00:00 in Tokyo: a new day
    assert call(mock_world, max_tokens=1).status_code == 200


def test_it_refuses_once_the_users_daily_budget_is_used_up(mock_world, gateway_clock):
    from apps.services import app_update

    app_update(app=mock_world.app, actor=SYSTEM, data={"identity_header_mode": True})
    factories.make_policy(mock_world.tenant, tenant_wide=True, user_daily_token_budget=5)
    alice = {"X-User-Email": "alice@example.com"}
    assert call(mock_world, headers=alice, max_tokens=10).status_code == 200
    assert refusal(call(mock_world, headers=alice)) == (429, "budget_exceeded", "user_daily_tokens")
    assert call(mock_world, headers={"X-User-Email": "bob@example.com"}).status_code == 200


def test_it_refuses_max_tokens_above_the_cap(mock_world):
    factories.make_policy(mock_world.tenant, tenant_wide=True, max_tokens_per_request=100)
    assert refusal(call(mock_world, max_tokens=101)) == (400, "invalid_request", "max_tokens_exceeded")
    assert refusal(call(mock_world, max_completion_tokens=500)) == (400, "invalid_request", "max_tokens_exceeded")
    assert call(mock_world, max_tokens=100).status_code == 200


@pytest.mark.parametrize(
    ("hours", "allowed"),
    [
        ({"timezone": "UTC", "days": ["sun"], "start": "09:00", "end": "18:00"}, True),  # Sunday 17:46 UTC
        ({"timezone": "UTC", "days": ["sun"], "start": "09:00", "end": "17:46"}, False),  # end exclusive
        ({"timezone": "UTC", "days": ["mon"], "start": "00:00", "end": "23:59"}, False),  # wrong day
        ({"timezone": "Asia/Tokyo", "days": ["mon"], "start": "02:00", "end": "03:00"}, True),  # Mon 02:46 there
        ({"timezone": "UTC", "days": ["sun"], "start": "17:46", "end": "17:47"}, True),  # start inclusive
        (
            {"timezone": "UTC", "days": ["sat"], "start": "22:00", "end": "18:00"},
            True,
        ),  # Saturday's window, into Sunday
        ({"timezone": "UTC", "days": ["sun"], "start": "22:00", "end": "18:00"}, False),  # Sunday's starts at 22:00
    ],
)
def test_it_enforces_allowed_hours_in_their_timezone(mock_world, gateway_clock, hours, allowed):
    factories.make_policy(mock_world.tenant, tenant_wide=True, allowed_hours=hours)
    response = call(mock_world)
    if allowed:
        assert response.status_code == 200
    else:
        assert refusal(response) == (403, "forbidden", "outside_allowed_hours")


def test_jwt_requests_skip_per_key_limits_but_not_per_agent_ones(jwt_world, gateway_clock):
    factories.make_policy(jwt_world.world.tenant, tenant_wide=True, requests_per_minute=1, daily_token_budget=5)
    assert jwt_world.call(jwt_world.token(), model="mock-1").status_code == 200
    refused = jwt_world.call(jwt_world.token(sub="u2"), model="mock-1")
    assert refused.json()["error"]["reason"] == "daily_tokens"


def test_it_records_the_policies_that_applied(mock_world, gateway_clock):
    policy = factories.make_policy(mock_world.tenant, tenant_wide=True, requests_per_minute=100)
    factories.make_policy(mock_world.tenant, app_ids=[factories.make_app(mock_world.tenant).id], requests_per_minute=1)
    response = call(mock_world)
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).policy_ids == [policy.id]


def test_it_carries_no_rate_limit_headers_without_a_request_limit(mock_world):
    response = call(mock_world)
    assert "x-ratelimit-limit-requests" not in response.headers
