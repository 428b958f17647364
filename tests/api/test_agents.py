"""Agents (SPEC 5.2)."""

from __future__ import annotations

import pytest

from core.errors import GatewayError
from keys.services import key_verify
from tests import factories
from tests.api.support import assert_error


def test_it_creates_an_agent_with_a_fingerprint(owner_api, world):
    body = {"name": "a", "app_id": world["app"], "allowed_models": ["gpt-4o*"], "metadata": {"team": "x"}}

    response = owner_api.post("/v1/agents", body, format="json")

    assert response.status_code == 201, response.content
    agent = response.json()
    assert (agent["object"], agent["app_id"], agent["status"]) == ("agent", world["app"], "active")
    assert agent["allowed_models"] == ["gpt-4o*"]
    assert agent["metadata"] == {"team": "x"}
    assert len(agent["fingerprint"]) == 64
    assert int(agent["fingerprint"], 16) >= 0


def test_it_keeps_the_fingerprint_through_changes(owner_api, world):
    before = owner_api.get(f"/v1/agents/{world['agent']}").json()["fingerprint"]

    after = owner_api.patch(f"/v1/agents/{world['agent']}", {"name": "renamed"}, format="json").json()

    assert after["fingerprint"] == before
    assert after["name"] == "renamed"


def test_it_suspends_an_agent_so_its_keys_stop_working(owner_api, world):
    response = owner_api.patch(f"/v1/agents/{world['agent']}", {"status": "suspended"}, format="json")

    assert response.json()["status"] == "suspended"
    with pytest.raises(GatewayError) as refusal:
        key_verify(world["agent_key"])
    assert refusal.value.reason == "agent_suspended"


@pytest.mark.parametrize(
    "body",
    [{"status": "deleted"}, {"allowed_models": []}, {"allowed_models": [" gpt"]}, {"metadata": []}, {"name": ""}],
)
def test_it_refuses_invalid_agent_fields(owner_api, world, body):
    response = owner_api.patch(f"/v1/agents/{world['agent']}", body, format="json")

    assert next(iter(body)) in assert_error(response, 400, "invalid_request")["message"]


def test_it_accepts_null_allowed_models_as_no_restriction(owner_api, world):
    response = owner_api.patch(f"/v1/agents/{world['agent']}", {"allowed_models": None}, format="json")

    assert response.status_code == 200
    assert response.json()["allowed_models"] is None


def test_it_refuses_an_app_of_another_tenant(owner_api, outsider):
    response = owner_api.post("/v1/agents", {"name": "a", "app_id": factories.make_app(outsider).id}, format="json")

    assert "app_id" in assert_error(response, 400, "invalid_request")["message"]


def test_it_deletes_softly_revoking_keys(owner_api, world):
    assert owner_api.delete(f"/v1/agents/{world['agent']}").status_code == 204

    assert_error(owner_api.get(f"/v1/agents/{world['agent']}"), 404, "not_found")
    assert world["agent"] not in [a["id"] for a in owner_api.get("/v1/agents").json()["data"]]
    with pytest.raises(GatewayError) as refusal:
        key_verify(world["agent_key"])
    assert refusal.value.reason == "key_revoked"
    assert owner_api.get(f"/v1/events?object_id={world['agent']}&action=agent.deleted").json()["data"]
