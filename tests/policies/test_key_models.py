"""A key's ``allowed_models`` (SPEC 2): one more list to pass, beside its agent's and its
policies', on chat and on the model list of ``GET /v1/models``."""

from __future__ import annotations

import pytest

from core.actors import SYSTEM
from identity.services import agent_update
from keys.services import key_rotate, key_update
from tests import factories
from tests.policies.conftest import call


@pytest.fixture
def mock_world(world):
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    return world


def reason(response) -> tuple[int, str | None]:
    if response.status_code < 400:
        return response.status_code, None
    return response.status_code, response.json()["error"]["reason"]


def listed(world, secret: str) -> set[str]:
    with world.http(**{"X-API-Key": secret}) as client:
        response = client.get("/v1/models")
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["data"]}


def test_it_refuses_a_model_outside_the_keys_list(mock_world):
    _, secret = factories.make_key(mock_world.agent, allowed_models=["mock-1"])
    headers = {"X-API-Key": secret}
    assert reason(call(mock_world, "mock-1", headers=headers)) == (200, None)
    assert reason(call(mock_world, "mock-2", headers=headers)) == (403, "model_not_allowed")


def test_it_never_widens_the_agents_list(mock_world):
    agent_update(agent=mock_world.agent, actor=SYSTEM, data={"allowed_models": ["mock-1"]})
    _, secret = factories.make_key(mock_world.agent, allowed_models=["mock-*"])
    assert reason(call(mock_world, "mock-2", headers={"X-API-Key": secret})) == (403, "model_not_allowed")
    assert reason(call(mock_world, "mock-1", headers={"X-API-Key": secret})) == (200, None)


def test_it_never_widens_a_policys_list(mock_world):
    factories.make_policy(mock_world.tenant, tenant_wide=True, allowed_models=["mock-1", "mock-2"])
    _, secret = factories.make_key(mock_world.agent, allowed_models=["mock-2", "mock-3"])
    headers = {"X-API-Key": secret}
    assert reason(call(mock_world, "mock-3", headers=headers)) == (403, "model_not_allowed")
    assert reason(call(mock_world, "mock-1", headers=headers)) == (403, "model_not_allowed")
    assert reason(call(mock_world, "mock-2", headers=headers)) == (200, None)


def test_a_key_without_a_list_inherits(mock_world):
    _, narrow = factories.make_key(mock_world.agent, allowed_models=["mock-1"])
    assert reason(call(mock_world, "mock-2", headers={"X-API-Key": narrow})) == (403, "model_not_allowed")
    # The other key of the same agent is not narrowed by its sibling's list.
    assert reason(call(mock_world, "mock-2")) == (200, None)


def test_the_model_list_shows_only_what_the_key_may_use(mock_world):
    alias_target = [{"provider_id": mock_world.provider.id, "model": "gpt-4o-mini"}]
    factories.make_alias(mock_world.tenant, alias_target, alias="smart-default")
    factories.make_provider(mock_world.tenant, kind="mock", models=["mock-exact"])
    _, secret = factories.make_key(mock_world.agent, allowed_models=["smart-*"])
    assert listed(mock_world, secret) == {"smart-default"}
    assert {"smart-default", "mock-exact"} <= listed(mock_world, mock_world.secret)


def test_a_changed_list_applies_to_the_next_request(mock_world):
    key, secret = factories.make_key(mock_world.agent)
    assert reason(call(mock_world, "mock-2", headers={"X-API-Key": secret})) == (200, None)
    key_update(key=key, actor=SYSTEM, data={"allowed_models": ["mock-1"]})
    assert reason(call(mock_world, "mock-2", headers={"X-API-Key": secret})) == (403, "model_not_allowed")


def test_a_rotated_key_keeps_its_list(mock_world):
    key, _ = factories.make_key(mock_world.agent, allowed_models=["mock-1"])
    new_key, secret = key_rotate(key=key, actor=SYSTEM)
    assert new_key.allowed_models == ["mock-1"]
    assert reason(call(mock_world, "mock-2", headers={"X-API-Key": secret})) == (403, "model_not_allowed")
