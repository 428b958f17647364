"""Cursor pagination (SPEC 5): limit, after, has_more, last_id, stable order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.models import Policy
from tests import factories
from tests.api.support import assert_error


@pytest.fixture
def many_policies(tenant) -> list[str]:
    """250 policies of the owner; 100 of them share one created_at, so ties are broken by id."""
    ids = [factories.make_policy(tenant, name=f"p{i}").id for i in range(250)]
    Policy.objects.filter(pk__in=ids[50:150]).update(created_at=datetime(2030, 1, 1, tzinfo=UTC))
    return ids


def walk(client, path: str, limit: int, after: str | None = None) -> tuple[list[str], list[int]]:
    seen: list[str] = []
    sizes: list[int] = []
    while True:
        url = f"{path}?limit={limit}" + (f"&after={after}" if after else "")
        body = client.get(url).json()
        assert body["object"] == "list"
        sizes.append(len(body["data"]))
        seen += [item["id"] for item in body["data"]]
        assert body["last_id"] == (body["data"][-1]["id"] if body["data"] else None)
        if not body["has_more"]:
            return seen, sizes
        after = body["last_id"]


def test_it_walks_250_objects_in_pages_of_100_without_gaps_or_repeats(owner_api, many_policies):
    seen, sizes = walk(owner_api, "/v1/policies", 100)

    assert sizes == [100, 100, 50]
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == set(many_policies)


def test_it_orders_by_creation_then_id(owner_api, many_policies):
    seen, _ = walk(owner_api, "/v1/policies", 100)

    expected = list(
        Policy.objects.filter(pk__in=many_policies).order_by("created_at", "id").values_list("id", flat=True)
    )
    assert seen == expected


def test_it_does_not_lose_objects_created_during_a_walk(owner_api, tenant, many_policies):
    first = owner_api.get("/v1/policies?limit=100").json()
    late = factories.make_policy(tenant, name="late").id

    rest, _ = walk(owner_api, "/v1/policies", 100, after=first["last_id"])

    seen = [item["id"] for item in first["data"]] + rest
    assert late in rest
    assert len(seen) == len(set(seen)) == 251


def test_it_pages_20_by_default(owner_api, many_policies):
    body = owner_api.get("/v1/policies").json()

    assert len(body["data"]) == 20
    assert body["has_more"] is True


def test_it_clamps_a_limit_above_100(owner_api, many_policies):
    body = owner_api.get("/v1/policies?limit=5000").json()

    assert len(body["data"]) == 100


@pytest.mark.parametrize("limit", ["abc", "0", "-3", "1.5"])
def test_it_refuses_an_invalid_limit(owner_api, limit):
    response = owner_api.get(f"/v1/policies?limit={limit}")

    error = assert_error(response, 400, "invalid_request", "invalid_limit")
    assert "limit" in error["message"]


def test_it_refuses_a_cursor_that_is_not_in_the_list(owner_api, world):
    response = owner_api.get(f"/v1/policies?after={world['agent']}")

    assert_error(response, 400, "invalid_request", "invalid_cursor")


def test_it_refuses_another_tenants_id_as_a_cursor(outsider_api, world):
    response = outsider_api.get(f"/v1/policies?after={world['policy']}")

    assert_error(response, 400, "invalid_request", "invalid_cursor")


def test_it_answers_an_empty_list_with_a_null_last_id(owner_api):
    body = owner_api.get("/v1/providers").json()

    assert body == {"object": "list", "data": [], "has_more": False, "last_id": None}
