"""The tenant's price table through the API (SPEC 5.8: a table the tenant can edit, in the admin and the API)."""

from __future__ import annotations

from providers.models import ModelPrice
from tests.api.support import assert_error


def test_it_lists_the_tenants_own_prices(owner_api):
    assert owner_api.get("/v1/prices").json()["data"] == []
    owner_api.post(
        "/v1/prices",
        {"model_pattern": "gpt-5*", "input_per_million_usd": "1", "cached_input_per_million_usd": "0.1",
         "output_per_million_usd": "2"},
        format="json",
    )  # fmt: skip
    response = owner_api.get("/v1/prices?limit=100")
    assert response.status_code == 200
    [price] = response.json()["data"]
    assert price["object"] == "price"
    assert (price["model_pattern"], price["cached_input_per_million_usd"]) == ("gpt-5*", "0.100000")


def test_a_price_without_a_cached_input_price_says_null(owner_api):
    created = owner_api.post(
        "/v1/prices", {"model_pattern": "m-*", "input_per_million_usd": "1", "output_per_million_usd": "2"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201
    assert created.json()["cached_input_per_million_usd"] is None


def test_it_creates_changes_and_deletes_a_price_with_events(owner_api, tenant):
    created = owner_api.post(
        "/v1/prices", {"model_pattern": "my-model-*", "input_per_million_usd": "1.5", "output_per_million_usd": "3"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    price_id = created.json()["id"]
    changed = owner_api.patch(f"/v1/prices/{price_id}", {"output_per_million_usd": "4.25"}, format="json")
    assert changed.json()["output_per_million_usd"] == "4.250000"
    actions = [e["action"] for e in owner_api.get("/v1/events?object_type=model_price").json()["data"]]
    assert {"model_price.created", "model_price.updated"} <= set(actions)
    assert owner_api.delete(f"/v1/prices/{price_id}").status_code == 204
    assert not ModelPrice.objects.filter(pk=price_id).exists()


def test_a_viewer_reads_but_does_not_write_prices(viewer_api):
    assert viewer_api.get("/v1/prices").status_code == 200
    refused = viewer_api.post("/v1/prices", {"model_pattern": "x", "input_per_million_usd": "1",
                                             "output_per_million_usd": "1"}, format="json")  # fmt: skip
    assert_error(refused, 403, "forbidden", "insufficient_role")


def test_another_tenants_price_answers_404(owner_api, outsider_api, tenant):
    price = ModelPrice.objects.create(tenant_id=tenant.id, model_pattern="gpt-5*")
    assert_error(outsider_api.get(f"/v1/prices/{price.id}"), 404, "not_found")
    assert_error(outsider_api.patch(f"/v1/prices/{price.id}", {"input_per_million_usd": "0"}, format="json"),
                 404, "not_found")  # fmt: skip
    assert_error(owner_api.get("/v1/prices/not-a-number"), 404, "not_found")


def test_it_refuses_a_negative_price(owner_api):
    response = owner_api.post(
        "/v1/prices", {"model_pattern": "m", "input_per_million_usd": "-1", "output_per_million_usd": "0"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
