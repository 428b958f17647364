"""GET /v1/users and GET /v1/users/{email}/conversations (SPEC 5.8): end users seen, their
totals and conversations, filters, pagination and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.analytics.support import record
from tests.api.support import assert_error

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def seen(tenant, outsider):
    """Ann: two conversations over two apps; Bob: one request, no conversation; Cy: another domain."""
    record(tenant.id, T0, user="ann@example.com", conversation_id="c-1", app_id="app_1", agent_id="ag_1",
           model_requested="gpt-4o-mini", prompt_tokens=10, completion_tokens=5, cost_usd=Decimal("0.001"))  # fmt: skip
    record(tenant.id, T0 + timedelta(minutes=2), user="ann@example.com", conversation_id="c-1", app_id="app_1",
           agent_id="ag_1", model_requested="claude-sonnet-4", status_code=429, error_code="rate_limited",
           prompt_tokens=0, completion_tokens=0, cost_usd=0)  # fmt: skip
    record(tenant.id, T0 + timedelta(hours=5), user="ann@example.com", conversation_id="c-2", app_id="app_2",
           agent_id="ag_2", prompt_tokens=1, completion_tokens=1)  # fmt: skip
    record(tenant.id, T0 + timedelta(hours=1), user="bob@example.com", app_id="app_2", agent_id="ag_2")
    record(tenant.id, T0 + timedelta(hours=2), user="cy@corp.test", app_id="app_1", agent_id="ag_1")
    record(tenant.id, T0, user=None, app_id="app_1")
    record(outsider.id, T0, user="eve@outsider.test", conversation_id="c-9")


def users(api, **params) -> dict:
    response = api.get("/v1/users", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_it_lists_end_users_most_recently_seen_first_with_totals(owner_api, seen):
    body = users(owner_api)

    assert body["object"] == "list"
    assert [u["id"] for u in body["data"]] == ["ann@example.com", "cy@corp.test", "bob@example.com"]
    ann = body["data"][0]
    assert ann == {
        "id": "ann@example.com", "object": "end_user", "created_at": "2026-03-01T09:00:00Z",
        "user": "ann@example.com", "first_seen": "2026-03-01T09:00:00Z", "last_seen": "2026-03-01T14:00:00Z",
        "requests": 3, "errors": 1, "prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17,
        "cost_usd": 0.0010045, "unpriced_requests": 0, "conversations": 2,
    }  # fmt: skip


def test_it_pages_end_users_with_a_cursor(owner_api, seen):
    first = users(owner_api, limit=2)
    second = users(owner_api, limit=2, after=first["last_id"])

    assert (first["has_more"], first["last_id"]) == (True, "cy@corp.test")
    assert [u["id"] for u in second["data"]] == ["bob@example.com"]
    assert second["has_more"] is False


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"app_id": "app_2"}, ["ann@example.com", "bob@example.com"]),
        ({"agent_id": "ag_1"}, ["cy@corp.test", "ann@example.com"]),
        ({"email_domain": "corp.test"}, ["cy@corp.test"]),
        ({"since": "2026-03-01T10:00:00Z"}, ["ann@example.com", "cy@corp.test", "bob@example.com"]),
        ({"until": "2026-03-01T10:00:00Z"}, ["ann@example.com"]),
    ],
)
def test_it_filters_end_users(owner_api, seen, params, expected):
    assert [u["id"] for u in users(owner_api, **params)["data"]] == expected


def test_it_counts_only_the_filtered_requests(owner_api, seen):
    ann = users(owner_api, app_id="app_1")["data"][-1]

    assert (ann["id"], ann["requests"], ann["conversations"]) == ("ann@example.com", 2, 1)


def test_it_lists_a_users_conversations(owner_api, seen):
    response = owner_api.get("/v1/users/ann@example.com/conversations")

    assert response.status_code == 200
    data = response.json()["data"]
    assert [c["id"] for c in data] == ["c-2", "c-1"]
    assert data[1] == {
        "id": "c-1", "object": "conversation", "created_at": "2026-03-01T09:00:00Z", "conversation_id": "c-1",
        "first_seen": "2026-03-01T09:00:00Z", "last_seen": "2026-03-01T09:02:00Z", "requests": 2, "errors": 1,
        "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost_usd": 0.001, "unpriced_requests": 0,
        "models": ["claude-sonnet-4", "gpt-4o-mini"],
    }  # fmt: skip


def test_it_filters_and_pages_conversations(owner_api, seen):
    only_app_1 = owner_api.get("/v1/users/ann@example.com/conversations", {"app_id": "app_1"}).json()
    page = owner_api.get("/v1/users/ann@example.com/conversations", {"limit": 1}).json()
    rest = owner_api.get("/v1/users/ann@example.com/conversations", {"limit": 1, "after": page["last_id"]}).json()

    assert [c["id"] for c in only_app_1["data"]] == ["c-1"]
    assert ([c["id"] for c in page["data"]], page["has_more"]) == (["c-2"], True)
    assert ([c["id"] for c in rest["data"]], rest["has_more"]) == (["c-1"], False)


def test_it_answers_an_empty_list_for_a_user_without_conversations(owner_api, seen):
    assert owner_api.get("/v1/users/bob@example.com/conversations").json()["data"] == []


def test_it_answers_404_for_an_identity_never_seen(owner_api, seen):
    assert_error(owner_api.get("/v1/users/nobody@example.com/conversations"), 404, "not_found")


def test_it_refuses_an_unknown_cursor(owner_api, seen):
    assert_error(owner_api.get("/v1/users", {"after": "eve@outsider.test"}), 400, "invalid_request", "invalid_cursor")


def test_it_shows_an_outsider_none_of_the_tenants_end_users(outsider_api, seen):
    assert [u["id"] for u in users(outsider_api)["data"]] == ["eve@outsider.test"]
    assert_error(outsider_api.get("/v1/users/ann@example.com/conversations"), 404, "not_found")


def test_it_lets_a_viewer_read_end_users(viewer_api, seen):
    assert len(users(viewer_api)["data"]) == 3
    assert viewer_api.get("/v1/users/ann@example.com/conversations").status_code == 200


@pytest.mark.parametrize("path", ["/v1/users", "/v1/users/ann@example.com/conversations"])
def test_it_refuses_an_agent_key(agent_key_api, seen, path):
    assert_error(agent_key_api.get(path), 403, "forbidden", "wrong_credential_type")


def test_it_orders_users_last_seen_at_the_same_moment_by_identity_across_pages(owner_api, tenant):
    for user in ("b@x.test", "a@x.test", "c@x.test"):
        record(tenant.id, T0, user=user)

    first = users(owner_api, limit=2)
    rest = users(owner_api, limit=2, after=first["last_id"])

    assert [u["id"] for u in first["data"]] == ["a@x.test", "b@x.test"]
    assert ([u["id"] for u in rest["data"]], rest["has_more"]) == (["c@x.test"], False)


def test_it_matches_an_email_domain_literally_and_in_any_case(owner_api, tenant):
    for user in ("x@a_b.test", "y@axb.test", "z@A_B.TEST", "w@pa_b.test"):
        record(tenant.id, T0, user=user)

    assert sorted(u["id"] for u in users(owner_api, email_domain="a_b.test")["data"]) == ["x@a_b.test", "z@A_B.TEST"]


def test_it_sums_each_users_requests_within_the_window_only(owner_api, seen):
    ann = users(owner_api, since="2026-03-01T10:00:00Z")["data"][0]

    assert (ann["id"], ann["requests"], ann["conversations"]) == ("ann@example.com", 1, 1)
    assert (ann["first_seen"], ann["last_seen"]) == ("2026-03-01T14:00:00Z", "2026-03-01T14:00:00Z")


def test_an_end_user_of_a_model_without_a_price_is_unpriced_not_free(owner_api, tenant):
    record(tenant.id, T0, user="dan@example.com", conversation_id="c-7", model_requested="house-model",
           cost_usd=None)  # fmt: skip
    record(tenant.id, T0, user="eve@example.com", conversation_id="c-8", model_requested="house-model",
           cost_usd=None)  # fmt: skip
    record(tenant.id, T0 + timedelta(minutes=1), user="eve@example.com", conversation_id="c-8",
           cost_usd=Decimal("0.002"))  # fmt: skip

    people = {u["id"]: u for u in users(owner_api)["data"]}
    assert (people["dan@example.com"]["cost_usd"], people["dan@example.com"]["unpriced_requests"]) == (None, 1)
    # What is known, with the count that makes it a lower bound.
    assert (people["eve@example.com"]["cost_usd"], people["eve@example.com"]["unpriced_requests"]) == (0.002, 1)
    [conversation] = owner_api.get("/v1/users/dan@example.com/conversations").json()["data"]
    assert (conversation["cost_usd"], conversation["unpriced_requests"]) == (None, 1)
