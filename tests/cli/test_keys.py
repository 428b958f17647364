"""``aidgate keys …``: a new secret is shown once, and never by a list."""

from __future__ import annotations

import httpx

from keys.models import Key
from tests import factories


def test_it_creates_a_key_and_shows_its_secret_once(org):
    agent = factories.make_agent(org.tenant)
    result = org.run("keys", "create", agent.id, "--name", "ci", "--scope", "embeddings", "--expires-in-days", "7")
    assert result.code == 0, result
    secret = result.stdout.split("store it now):\n", 1)[1].strip()
    assert secret.startswith("aid_sk_")
    key = Key.objects.get(agent=agent)
    assert (key.name, key.scopes) == ("ci", ["embeddings"])
    listed = org.run("keys", "list", agent.id)
    assert key.id in listed.stdout
    assert secret not in listed.stdout


def test_it_gives_scripts_the_secret_in_json(org):
    agent = factories.make_agent(org.tenant)
    created = org.ok("keys", "create", agent.id)
    assert created["key"].startswith("aid_sk_")
    assert created["key"].startswith(created["prefix"])
    listed = org.ok("keys", "list", agent.id)
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]


def test_it_rotates_a_key_with_a_grace_period(org):
    agent = factories.make_agent(org.tenant)
    old, _ = factories.make_key(agent)
    new = org.ok("keys", "rotate", agent.id, old.id, "--grace-seconds", "60")
    assert new["id"] != old.id
    assert new["key"].startswith("aid_sk_")
    old.refresh_from_db()
    assert old.rotated_to_id == new["id"]


def test_it_revokes_a_key(org):
    agent = factories.make_agent(org.tenant)
    key, _ = factories.make_key(agent)
    result = org.run("keys", "revoke", agent.id, key.id)
    assert result.code == 0, result
    assert f"revoked {key.id}" in result.stdout
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_it_exits_6_on_a_key_of_another_agent(org):
    agent, other = factories.make_agent(org.tenant), factories.make_agent(org.tenant)
    key, _ = factories.make_key(other)
    result = org.run("keys", "revoke", agent.id, key.id)
    assert result.code == 6
    assert "no such key" in result.stderr
    key.refresh_from_db()
    assert key.revoked_at is None


def test_a_viewer_cannot_create_a_key(org):
    agent = factories.make_agent(org.tenant)
    result = org.run("keys", "create", agent.id, key=org.viewer_secret)
    assert result.code == 5
    assert "aid_sk_" not in result.stdout
    assert not Key.objects.filter(agent=agent).exists()


def test_it_creates_a_key_limited_to_some_models(org):
    factories.make_provider(org.tenant, kind="mock", models=["mock-*"])
    factories.make_app(org.tenant, is_default=True)
    agent = factories.make_agent(org.tenant)

    created = org.ok("keys", "create", agent.id, "--allowed-models", "mock-small, mock-tiny-*", "--allowed-model", "x")

    assert created["allowed_models"] == ["mock-small", "mock-tiny-*", "x"]
    assert Key.objects.get(pk=created["id"]).allowed_models == ["mock-small", "mock-tiny-*", "x"]
    # The gateway holds the key to them: the list narrows its agent's (which allows any model).
    with httpx.Client(base_url=org.url, timeout=10, headers={"Authorization": f"Bearer {created['key']}"}) as client:

        def chat(model: str) -> httpx.Response:
            return client.post(
                "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "Hi"}]}
            )

        assert chat("mock-small").status_code == 200
        refused = chat("mock-large")
    assert refused.status_code == 403
    assert refused.json()["error"]["reason"] == "model_not_allowed"


def test_a_key_without_allowed_models_inherits(org):
    agent = factories.make_agent(org.tenant)
    created = org.ok("keys", "create", agent.id)
    assert created["allowed_models"] is None


def test_an_empty_model_list_is_refused(org):
    agent = factories.make_agent(org.tenant)
    result = org.run("keys", "create", agent.id, "--allowed-models", "", "--json")
    assert result.code == 7, result
    assert result.error()["code"] == "invalid_request"
    assert "allowed_models" in result.error()["message"]
    assert not Key.objects.filter(agent=agent).exists()
