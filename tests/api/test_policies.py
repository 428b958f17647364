"""Policies (SPEC 5.4)."""

from __future__ import annotations

import pytest

from tests import factories
from tests.api.support import assert_error


def test_it_creates_a_policy_with_limits_and_targets(owner_api, world):
    body = {
        "name": "office hours",
        "timezone": "Europe/Paris",
        "app_ids": [world["app"]],
        "agent_ids": [world["agent"]],
        "allowed_models": ["gpt-4o*"],
        "allowed_endpoints": ["chat"],
        "requests_per_minute": 60,
        "daily_token_budget": 10**12,
        "allowed_hours": {"days": ["mon", "tue"], "start": "09:00", "end": "17:00", "timezone": "Europe/Paris"},
    }

    response = owner_api.post("/v1/policies", body, format="json")

    assert response.status_code == 201, response.content
    policy = response.json()
    assert policy["object"] == "policy"
    assert {k: policy[k] for k in body} == body
    assert (policy["enabled"], policy["tenant_wide"]) == (True, False)


def test_it_changes_the_targets_of_a_policy(owner_api, tenant, world):
    other = factories.make_agent(tenant)

    response = owner_api.patch(f"/v1/policies/{world['policy']}", {"agent_ids": [other.id]}, format="json")

    assert response.json()["agent_ids"] == [other.id]
    assert response.json()["app_ids"] == [world["app"]]


def test_it_refuses_a_target_of_another_tenant(owner_api, outsider):
    foreign = factories.make_app(outsider)

    response = owner_api.post("/v1/policies", {"name": "p", "app_ids": [foreign.id]}, format="json")

    assert "app_ids" in assert_error(response, 400, "invalid_request")["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"allowed_models": []},
        {"allowed_endpoints": []},
        {"allowed_endpoints": ["images"]},
        {"timezone": "Mars/Olympus"},
        {"allowed_hours": {"start": "9am", "end": "17:00"}},
        {"allowed_hours": {"start": "09:00", "end": "17:00", "days": ["someday"]}},
        {"requests_per_minute": -1},
    ],
)
def test_it_refuses_invalid_policy_fields(owner_api, body):
    response = owner_api.post("/v1/policies", {"name": "p", **body}, format="json")

    assert next(iter(body)) in assert_error(response, 400, "invalid_request")["message"]


def test_it_records_the_change_of_a_policy(owner_api, world):
    owner_api.patch(f"/v1/policies/{world['policy']}", {"requests_per_minute": 5}, format="json")

    event = owner_api.get(f"/v1/events?object_id={world['policy']}&action=policy.updated").json()["data"][0]
    assert event["changes"] == {"requests_per_minute": {"before": None, "after": 5}}
