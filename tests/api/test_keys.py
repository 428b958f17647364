"""Agent keys (SPEC 5.3 and 2): issue, list, revoke, rotate; the secret appears once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from core.errors import GatewayError
from keys.services import key_verify
from tests import factories
from tests.api.support import assert_error


@pytest.fixture
def created(owner_api, world) -> dict:
    response = owner_api.post(
        f"/v1/agents/{world['agent']}/keys",
        {"name": "ci", "scopes": ["embeddings"], "rate_limit": 30, "expires_in_days": 10, "app_id": world["app"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_it_issues_a_key_with_its_settings_and_its_secret(created, world):
    assert created["object"] == "key"
    assert created["key"].startswith("aid_sk_")
    assert created["prefix"] == created["key"][:11]
    assert (created["agent_id"], created["app_id"]) == (world["agent"], world["app"])
    assert (created["scopes"], created["rate_limit"], created["status"]) == (["embeddings"], 30, "active")
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=9, hours=23) < expires - timezone.now() <= timedelta(days=10)
    assert key_verify(created["key"]).id == created["id"]


def test_it_never_shows_the_secret_again(owner_api, created, world):
    responses = [
        owner_api.get(f"/v1/agents/{world['agent']}/keys?limit=100"),
        owner_api.get(f"/v1/agents/{world['agent']}/keys/{created['id']}"),
        owner_api.get("/v1/events?limit=100"),
    ]

    for response in responses:
        assert response.status_code == 200
        text = response.content.decode()
        assert created["key"] not in text
        assert created["key"][11:] not in text
    assert "key" not in responses[1].json()
    assert all("key" not in item for item in responses[0].json()["data"])


def test_it_lists_the_fields_of_a_key_but_not_its_secret(owner_api, created, world):
    item = owner_api.get(f"/v1/agents/{world['agent']}/keys/{created['id']}").json()

    assert {"prefix", "expires_at", "last_used_at", "revoked_at", "rotated_to", "scopes", "app_id"} <= set(item)


def test_it_gives_a_key_90_days_and_all_scopes_by_default(owner_api, world):
    body = owner_api.post(f"/v1/agents/{world['agent']}/keys", {}, format="json").json()

    assert body["scopes"] == ["chat:completions", "embeddings", "models:read"]
    assert body["app_id"] is None
    lifetime = datetime.fromisoformat(body["expires_at"]) - timezone.now()
    assert timedelta(days=89, hours=23) < lifetime <= timedelta(days=90)


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in_days": 0},
        {"expires_in_days": 366},
        {"scopes": []},
        {"scopes": ["admin"]},
        {"allowed_user_domains": ["not a domain"]},
        {"rate_limit": -1},
    ],
)
def test_it_refuses_invalid_key_settings(owner_api, world, body):
    response = owner_api.post(f"/v1/agents/{world['agent']}/keys", body, format="json")

    assert next(iter(body)) in assert_error(response, 400, "invalid_request")["message"]


def test_it_accepts_an_empty_domain_list_on_a_key(owner_api, world):
    response = owner_api.post(f"/v1/agents/{world['agent']}/keys", {"allowed_user_domains": []}, format="json")

    assert response.status_code == 201
    assert response.json()["allowed_user_domains"] == []


def test_it_refuses_an_app_of_another_tenant(owner_api, world, outsider):
    foreign = factories.make_app(outsider)

    response = owner_api.post(f"/v1/agents/{world['agent']}/keys", {"app_id": foreign.id}, format="json")

    error = assert_error(response, 400, "invalid_request")
    assert error["message"] == "app_id: names no app of this tenant"


def test_it_does_not_find_a_key_under_another_agent(owner_api, tenant, world):
    other = factories.make_agent(tenant)

    assert_error(owner_api.get(f"/v1/agents/{other.id}/keys/{world['key']}"), 404, "not_found")


def test_it_revokes_a_key_on_the_next_request(owner_api, world):
    response = owner_api.delete(f"/v1/agents/{world['agent']}/keys/{world['key']}")

    assert response.status_code == 204
    with pytest.raises(GatewayError) as refusal:
        key_verify(world["agent_key"])
    assert refusal.value.reason == "key_revoked"
    item = owner_api.get(f"/v1/agents/{world['agent']}/keys/{world['key']}").json()
    assert item["status"] == "revoked"
    assert item["revoked_at"].endswith("Z")


def test_it_rotates_with_a_grace_period(owner_api, world):
    response = owner_api.post(
        f"/v1/agents/{world['agent']}/keys/{world['key']}/rotate", {"grace_seconds": 3600}, format="json"
    )

    assert response.status_code == 201
    new = response.json()
    assert new["id"] != world["key"]
    assert new["key"].startswith("aid_sk_")
    assert new["key"] != world["agent_key"]
    old = owner_api.get(f"/v1/agents/{world['agent']}/keys/{world['key']}").json()
    assert old["rotated_to"] == new["id"]
    assert key_verify(world["agent_key"]).id == world["key"]  # still in its grace
    assert key_verify(new["key"]).id == new["id"]
    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        with pytest.raises(GatewayError) as refusal:
            key_verify(world["agent_key"])
        assert refusal.value.reason == "key_revoked"
        assert key_verify(new["key"]).id == new["id"]


def test_it_rotates_without_grace_by_default(owner_api, world):
    response = owner_api.post(f"/v1/agents/{world['agent']}/keys/{world['key']}/rotate", {}, format="json")

    assert response.status_code == 201
    with pytest.raises(GatewayError) as refusal:
        key_verify(world["agent_key"])
    assert refusal.value.reason == "key_revoked"


def test_it_keeps_the_settings_of_a_rotated_key(owner_api, created, world):
    new = owner_api.post(f"/v1/agents/{world['agent']}/keys/{created['id']}/rotate", format="json").json()

    for field in ("scopes", "rate_limit", "app_id", "agent_id", "name"):
        assert new[field] == created[field]


def test_it_refuses_a_second_rotation_of_the_same_key(owner_api, world):
    path = f"/v1/agents/{world['agent']}/keys/{world['key']}/rotate"
    owner_api.post(path, {"grace_seconds": 60}, format="json")

    assert_error(owner_api.post(path, {}, format="json"), 400, "invalid_request", "key_not_active")


@pytest.mark.parametrize("grace", [-1, 7 * 24 * 3600 + 1, "soon"])
def test_it_refuses_an_invalid_grace(owner_api, world, grace):
    response = owner_api.post(
        f"/v1/agents/{world['agent']}/keys/{world['key']}/rotate", {"grace_seconds": grace}, format="json"
    )

    assert "grace_seconds" in assert_error(response, 400, "invalid_request")["message"]


def test_it_shows_no_keys_of_a_deleted_agent(owner_api, world):
    owner_api.delete(f"/v1/agents/{world['agent']}")

    assert_error(owner_api.get(f"/v1/agents/{world['agent']}/keys"), 404, "not_found")


def test_it_issues_a_key_with_allowed_models_and_shows_them(owner_api, world):
    response = owner_api.post(
        f"/v1/agents/{world['agent']}/keys", {"name": "narrow", "allowed_models": ["gpt-4o*"]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["allowed_models"] == ["gpt-4o*"]
    item = owner_api.get(f"/v1/agents/{world['agent']}/keys/{response.json()['id']}").json()
    assert item["allowed_models"] == ["gpt-4o*"]


def test_a_key_inherits_its_models_by_default(created):
    assert created["allowed_models"] is None


@pytest.mark.parametrize("value", [[], "gpt-4o", [""], [" gpt-4o"]])
def test_it_refuses_bad_allowed_models(owner_api, world, value):
    response = owner_api.post(f"/v1/agents/{world['agent']}/keys", {"allowed_models": value}, format="json")
    assert_error(response, 400, "invalid_request")


def test_it_records_allowed_models_in_the_key_created_event(owner_api, world):
    from forensics.models import Event

    response = owner_api.post(f"/v1/agents/{world['agent']}/keys", {"allowed_models": ["mock-*"]}, format="json")
    event = Event.objects.get(object_id=response.json()["id"], action="key.created")
    assert event.changes["allowed_models"]["after"] == ["mock-*"]
