"""Guardrails (SPEC 5.6 and 3.5): org admins read and write; an agent key reads its own app's."""

from __future__ import annotations

import pytest

from core.actors import SYSTEM
from keys.services import key_revoke
from tests import factories
from tests.api.support import assert_error, client_for

RULES = {
    "blocked_patterns": [{"name": "project", "pattern": r"(?i)project\s+x"}],
    "pii": "redact",
    "max_prompt_chars": 4000,
}


def test_it_starts_with_the_defaults(owner_api, world):
    body = owner_api.get(f"/v1/apps/{world['app']}/guardrails").json()

    assert body["object"] == "guardrails"
    assert body["id"] == body["app_id"] == world["app"]
    assert (body["blocked_patterns"], body["pii"], body["max_prompt_chars"]) == ([], "off", None)
    assert body["created_at"].endswith("Z")


def test_it_replaces_the_whole_object_on_put(owner_api, world):
    path = f"/v1/apps/{world['app']}/guardrails"
    first = owner_api.put(path, RULES, format="json").json()
    assert {field: first[field] for field in RULES} == RULES

    body = owner_api.put(path, {"pii": "block"}, format="json").json()

    assert (body["blocked_patterns"], body["pii"], body["max_prompt_chars"]) == ([], "block", None)
    assert owner_api.get(path).json()["pii"] == "block"


def test_it_refuses_patch(owner_api, world):
    response = owner_api.patch(f"/v1/apps/{world['app']}/guardrails", {"pii": "block"}, format="json")

    assert_error(response, 405, "invalid_request", "method_not_allowed")


@pytest.mark.parametrize(
    "body",
    [
        {"blocked_patterns": [{"name": "bad", "pattern": "("}]},
        {"blocked_patterns": [{"name": "a", "pattern": "x"}, {"name": "a", "pattern": "y"}]},
        {"blocked_patterns": [{"name": "a", "pattern": "x", "flags": "i"}]},
        {"pii": "shout"},
        {"max_prompt_chars": -5},
        {"blocked_patterns": [{"name": f"p{i}", "pattern": "x"} for i in range(51)]},
        {"blocked_patterns": [{"name": "long", "pattern": "x" * 1001}]},
        {"blocked_patterns": [{"name": "n" * 65, "pattern": "x"}]},
    ],
)
def test_it_refuses_invalid_guardrails(owner_api, world, body):
    response = owner_api.put(f"/v1/apps/{world['app']}/guardrails", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"].startswith(next(iter(body)))


def test_it_accepts_fifty_patterns_of_a_thousand_characters(owner_api, world):
    patterns = [{"name": f"p{i}", "pattern": "x" * 999 + str(i % 10)} for i in range(50)]

    response = owner_api.put(f"/v1/apps/{world['app']}/guardrails", {"blocked_patterns": patterns}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["blocked_patterns"] == patterns


def test_it_lets_an_agent_key_read_its_apps_guardrails(agent_key_api, owner_api, world):
    owner_api.put(f"/v1/apps/{world['app']}/guardrails", RULES, format="json")

    response = agent_key_api.get(f"/v1/apps/{world['app']}/guardrails")

    assert response.status_code == 200, response.content
    assert response.json()["blocked_patterns"] == RULES["blocked_patterns"]


def test_it_lets_an_app_scoped_key_read_its_own_app(tenant, world):
    app = factories.make_app(tenant)
    agent = factories.make_agent(tenant)  # no app of its own
    _, secret = factories.make_key(agent, app=app)

    assert client_for(secret).get(f"/v1/apps/{app.id}/guardrails").status_code == 200
    assert_error(client_for(secret).get(f"/v1/apps/{world['app']}/guardrails"), 404, "not_found")


def test_it_hides_other_apps_of_the_tenant_from_an_agent_key(agent_key_api, tenant):
    other = factories.make_app(tenant)

    assert_error(agent_key_api.get(f"/v1/apps/{other.id}/guardrails"), 404, "not_found")


def test_it_hides_another_tenants_app_from_an_agent_key(agent_key_api, outsider):
    foreign = factories.make_app(outsider)

    assert_error(agent_key_api.get(f"/v1/apps/{foreign.id}/guardrails"), 404, "not_found")


def test_it_refuses_every_guardrail_write_of_an_agent_key(agent_key_api, owner_api, world):
    path = f"/v1/apps/{world['app']}/guardrails"

    response = agent_key_api.put(path, {"pii": "off"}, format="json")

    error = assert_error(response, 403, "guardrail_policy_forbidden")
    assert error["type"] == "permission_error"
    assert owner_api.get(path).json()["pii"] == "off"
    assert not owner_api.get(f"/v1/events?object_id={world['app']}&action=guardrails.updated").json()["data"]


def test_it_refuses_a_revoked_agent_key_on_guardrails(world, agent_key_api):
    from keys.models import Key

    key_revoke(key=Key.objects.get(pk=world["key"]), actor=SYSTEM)

    assert_error(agent_key_api.get(f"/v1/apps/{world['app']}/guardrails"), 401, "unauthorized", "key_revoked")


def test_it_lets_a_viewer_read_but_not_write_guardrails(viewer_api, world):
    path = f"/v1/apps/{world['app']}/guardrails"

    assert viewer_api.get(path).status_code == 200
    assert_error(viewer_api.put(path, RULES, format="json"), 403, "forbidden", "insufficient_role")
