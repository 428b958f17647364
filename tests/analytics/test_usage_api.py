"""GET /v1/usage and GET /v1/agents/{id}/usage (SPEC 5.8): the body, each grouping, exactness
right after a request, and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.services import usage_rollup
from core.ids import new_id
from forensics.models import RequestLog
from forensics.sealing import tenant_chain_seal
from tests import factories
from tests.analytics.support import answered_usage, direct_usage, record
from tests.api.support import assert_error
from tests.support.live_fixtures import chat

pytestmark = pytest.mark.django_db

T_FIELDS = {
    "requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "latency_p50_ms",
    "latency_p95_ms", "unpriced_requests",
}  # fmt: skip
DAY1 = datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
WINDOW = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-03T00:00:00Z"}


@pytest.fixture
def traffic(tenant, agent):
    """Two days of requests, rolled up, then one more request that is only in the record."""
    other = factories.make_agent(tenant)
    record(tenant.id, DAY1, agent_id=agent.id, app_id="app_x", user="ann@example.com", latency_ms=100)
    record(tenant.id, DAY1 + timedelta(minutes=1), agent_id=agent.id, user="ann@example.com", latency_ms=300,
           status_code=429, error_code="rate_limited", prompt_tokens=0, completion_tokens=0, cost_usd=0)  # fmt: skip
    record(tenant.id, DAY1 + timedelta(days=1, hours=3), agent_id=other.id, model_requested="claude-sonnet-4",
           user="bob@example.com", latency_ms=200, cost_usd=Decimal("0.01"), endpoint="messages")  # fmt: skip
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)
    record(tenant.id, DAY1 + timedelta(days=1, hours=3, minutes=5), agent_id=agent.id, latency_ms=50,
           endpoint="responses")  # fmt: skip
    return {"agent": agent, "other": other}


def get_usage(api, path="/v1/usage", **params):
    response = api.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_it_answers_the_spec_body(owner_api, traffic):
    body = get_usage(owner_api, **WINDOW, group_by="model")

    assert set(body) == {"object", "since", "until", "totals", "groups"}
    assert (body["object"], body["since"], body["until"]) == ("usage", WINDOW["since"], WINDOW["until"])
    assert set(body["totals"]) == T_FIELDS
    assert all(set(group) == T_FIELDS | {"key"} for group in body["groups"])
    assert body["totals"] == {
        "requests": 4, "errors": 1, "prompt_tokens": 30, "completion_tokens": 15, "total_tokens": 45,
        "cost_usd": 0.010009, "latency_p50_ms": 100, "latency_p95_ms": 300, "unpriced_requests": 0,
    }  # fmt: skip


def test_it_is_exact_right_after_new_records_before_any_seal_or_rollup(owner_api, tenant, traffic):
    before = get_usage(owner_api, **WINDOW)["totals"]["requests"]
    record(tenant.id, DAY1 + timedelta(hours=1), prompt_tokens=1000)

    after = get_usage(owner_api, **WINDOW)["totals"]

    assert (after["requests"], after["prompt_tokens"]) == (before + 1, 1030)


@pytest.mark.parametrize("group_by", ["day", "hour", "model", "user", "app", "agent", "endpoint"])
def test_it_groups_exactly_as_the_records_do(owner_api, tenant, traffic, group_by):
    body = get_usage(owner_api, **WINDOW, group_by=group_by)

    since, until = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    assert answered_usage(body, group_by) == direct_usage(tenant.id, since, until, group_by)


def test_it_keys_days_and_hours_as_the_spec_says(owner_api, traffic):
    days = [g["key"] for g in get_usage(owner_api, **WINDOW, group_by="day")["groups"]]
    hours = [g["key"] for g in get_usage(owner_api, **WINDOW, group_by="hour")["groups"]]

    assert days == [{"day": "2026-03-01"}, {"day": "2026-03-02"}]
    assert hours == [{"hour": "2026-03-01T10:00:00Z"}, {"hour": "2026-03-02T13:00:00Z"}]


def test_it_counts_each_dialects_requests_by_endpoint(owner_api, traffic):
    groups = get_usage(owner_api, **WINDOW, group_by="endpoint")["groups"]
    assert [(g["key"], g["requests"], g["errors"]) for g in groups] == [
        ({"endpoint": "chat"}, 2, 1), ({"endpoint": "messages"}, 1, 0), ({"endpoint": "responses"}, 1, 0),
    ]  # fmt: skip

    agent = traffic["agent"]
    mine = get_usage(owner_api, f"/v1/agents/{agent.id}/usage", **WINDOW, group_by="endpoint")
    assert [(g["key"]["endpoint"], g["requests"]) for g in mine["groups"]] == [("chat", 2), ("responses", 1)]
    assert mine["totals"]["requests"] == 3


def test_it_groups_by_the_model_the_client_sent(owner_api, tenant):
    record(tenant.id, DAY1, model_requested="smart-default", model_resolved="gpt-4o")

    groups = get_usage(owner_api, **WINDOW, group_by="model")["groups"]

    assert [g["key"] for g in groups] == [{"model": "smart-default"}]


def test_it_answers_the_usage_of_one_agent(owner_api, tenant, traffic):
    agent = traffic["agent"]
    body = get_usage(owner_api, f"/v1/agents/{agent.id}/usage", **WINDOW, group_by="day")

    since, until = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    assert answered_usage(body, "day") == direct_usage(tenant.id, since, until, "day", agent_id=agent.id)
    assert body["totals"]["requests"] == 3


def test_it_defaults_to_the_last_30_days(owner_api, tenant):
    now = timezone.now()
    record(tenant.id, now - timedelta(days=29))
    record(tenant.id, now - timedelta(days=31))

    body = get_usage(owner_api)

    assert body["totals"]["requests"] == 1
    since = datetime.fromisoformat(body["since"])
    until = datetime.fromisoformat(body["until"])
    assert until - since == timedelta(days=30)
    assert abs((until - now).total_seconds()) < 60


def test_it_answers_null_latencies_and_zeros_without_requests(owner_api, tenant):
    body = get_usage(owner_api, **WINDOW, group_by="day")

    assert body["totals"] == {
        "requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost_usd": 0.0,
        "latency_p50_ms": None, "latency_p95_ms": None, "unpriced_requests": 0,
    }  # fmt: skip
    assert body["groups"] == []


def test_it_accepts_dates_as_window_bounds(owner_api, traffic):
    body = get_usage(owner_api, since="2026-03-02", until="2026-03-03")

    assert (body["since"], body["totals"]["requests"]) == ("2026-03-02T00:00:00Z", 2)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"group_by": "week"}, "invalid_group_by"),
        ({"since": "yesterday"}, "invalid_since"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "invalid_window"),
    ],
)
def test_it_refuses_bad_parameters(owner_api, params, reason):
    assert_error(owner_api.get("/v1/usage", params), 400, "invalid_request", reason)


USAGE_PATHS = ["/v1/usage", "/v1/agents/{agent}/usage"]
TOO_LONG = [
    {"since": "0001-01-01", "group_by": "hour"},
    {"since": "2024-01-01", "until": "2025-02-05T00:00:01Z", "group_by": "day"},
    {"since": "2020-01-01", "until": "2026-01-01"},
]


@pytest.mark.parametrize("path", USAGE_PATHS)
@pytest.mark.parametrize("params", TOO_LONG)
def test_it_refuses_a_window_longer_than_400_days(owner_api, viewer_api, agent, path, params):
    for api in (owner_api, viewer_api):
        response = api.get(path.format(agent=agent.id), params)

        error = assert_error(response, 400, "invalid_request", error_reason(params))
        assert ("400 days" if error["reason"] == "window_too_long" else "since:") in error["message"]


def error_reason(params: dict[str, str]) -> str:
    return "invalid_since" if params["since"].startswith("0001") else "window_too_long"


@pytest.mark.parametrize("path", USAGE_PATHS)
def test_it_answers_a_window_of_exactly_400_days(owner_api, tenant, agent, path):
    record(tenant.id, datetime(2025, 2, 4, 23, tzinfo=UTC), agent_id=agent.id)

    body = get_usage(owner_api, path.format(agent=agent.id), since="2024-01-01", until="2025-02-04T00:00:00Z",
                     group_by="hour")  # fmt: skip

    assert body["totals"]["requests"] == 0
    assert get_usage(owner_api, path.format(agent=agent.id), since="2024-01-02", until="2025-02-05",
                     group_by="day")["totals"]["requests"] == 1  # fmt: skip


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"until": "0001-01-05"}, "invalid_until"),
        ({"since": "1969-12-31T23:59:59Z", "until": "1970-01-02"}, "invalid_since"),
        ({"since": "9999-02-01", "until": "9998-12-01"}, "invalid_since"),
        ({"since": "9998-12-31", "until": "9999-12-31T23:00:00-05:00"}, "invalid_until"),
    ],
)
def test_it_refuses_window_ends_out_of_range_without_a_500(owner_api, params, reason):
    assert_error(owner_api.get("/v1/usage", {**params, "group_by": "hour"}), 400, "invalid_request", reason)


def test_it_refuses_an_answer_of_more_than_10000_groups(owner_api, viewer_api, tenant):
    moment = datetime(2026, 3, 1, 12, tzinfo=UTC)
    RequestLog.objects.bulk_create(
        RequestLog(id=new_id("req"), tenant_id=tenant.id, created_at=moment, endpoint="chat", status_code=200,
                   model_requested="gpt-4o-mini", user=f"user{n}@example.com", latency_ms=1.0)
        for n in range(10_001)
    )  # fmt: skip

    for api in (owner_api, viewer_api):
        error = assert_error(api.get("/v1/usage", {**WINDOW, "group_by": "user"}), 400, "invalid_request",
                             "too_many_groups")  # fmt: skip
        assert "10000" in error["message"] or "10,000" in error["message"]
        assert get_usage(api, **WINDOW, group_by="model")["totals"]["requests"] == 10_001


def test_it_lets_a_viewer_read_usage(viewer_api, traffic):
    assert get_usage(viewer_api, **WINDOW)["totals"]["requests"] == 4


def test_it_shows_an_outsider_none_of_the_tenants_usage(outsider_api, traffic):
    assert get_usage(outsider_api, **WINDOW)["totals"]["requests"] == 0
    response = outsider_api.get(f"/v1/agents/{traffic['agent'].id}/usage", WINDOW)
    assert_error(response, 404, "not_found")


def test_it_answers_404_for_an_unknown_agent(owner_api):
    assert_error(owner_api.get("/v1/agents/ag_doesnotexist123/usage"), 404, "not_found")


@pytest.mark.parametrize("path", ["/v1/usage", "/v1/agents/{agent}/usage"])
def test_it_refuses_an_agent_key(agent_key_api, agent, path):
    response = agent_key_api.get(path.format(agent=agent.id))

    assert_error(response, 403, "forbidden", "wrong_credential_type")


def test_it_refuses_a_caller_without_a_credential(client, db):
    response = client.get("/v1/usage")

    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_it_counts_a_proxied_request_right_after_its_response(world):
    """End to end: a request through the real gateway is in /v1/usage with its tokens and cost."""
    api = factories.make_org_key(world.tenant)[1]
    world.upstream.behaviour["/v1/chat/completions"] = lambda seen: {
        "json": {
            "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        }
    }  # fmt: skip
    with world.http(Authorization=f"Bearer {world.secret}") as http:
        assert http.post("/v1/chat/completions", json=chat("gpt-4o-mini")).status_code == 200
        assert http.post("/v1/chat/completions", json=chat("not-a-model-anyone-serves")).status_code >= 400
    with world.http(Authorization=f"Bearer {api}") as http:
        body = http.get("/v1/usage", params={"group_by": "model"}).json()

    assert (body["totals"]["requests"], body["totals"]["errors"]) == (2, 1)
    served = next(g for g in body["groups"] if g["key"] == {"model": "gpt-4o-mini"})
    # gpt-4o-mini's list price (genai-prices): 0.15 in, 0.60 out per million tokens.
    assert (served["prompt_tokens"], served["completion_tokens"], served["cost_usd"]) == (1000, 500, 0.00045)
