"""The management audit trail (SPEC 5.7, GET /v1/events)."""

from __future__ import annotations

import json

from tests.api.support import assert_error


def test_it_lists_events_newest_first_with_their_actor(owner_api, owner_key):
    agent = owner_api.post("/v1/agents", {"name": "a"}, format="json").json()
    owner_api.patch(f"/v1/agents/{agent['id']}", {"name": "b"}, format="json")

    events = owner_api.get(f"/v1/events?object_id={agent['id']}").json()["data"]

    assert [e["action"] for e in events] == ["agent.updated", "agent.created"]
    newest = events[0]
    assert set(newest) == {"id", "object", "created_at", "actor", "action", "object_type", "object_id", "changes"}
    assert newest["object"] == "event"
    assert newest["id"].startswith("evt_")
    assert newest["actor"] == {"type": "org_key", "id": owner_key[0].id}
    assert newest["changes"] == {"name": {"before": "a", "after": "b"}}


def test_it_filters_events_by_action(owner_api, world):
    response = owner_api.get("/v1/events?action=key.created&limit=100")

    actions = {e["action"] for e in response.json()["data"]}
    assert actions == {"key.created"}


def test_it_records_key_lifecycle_events_without_secrets(owner_api, world):
    base = f"/v1/agents/{world['agent']}/keys"
    created = owner_api.post(base, {}, format="json").json()
    rotated = owner_api.post(f"{base}/{created['id']}/rotate", {"grace_seconds": 5}, format="json").json()
    owner_api.delete(f"{base}/{rotated['id']}")
    org = owner_api.post("/v1/org-keys", {"role": "viewer"}, format="json").json()

    events = owner_api.get("/v1/events?limit=100").json()["data"]

    actions = [e["action"] for e in events]
    assert {"key.created", "key.rotated", "key.revoked", "org_key.created"} <= set(actions)
    text = json.dumps(events)
    for secret in (created["key"], rotated["key"], org["key"], world["agent_key"]):
        assert secret not in text
        assert secret[-20:] not in text


def test_it_walks_events_with_the_cursor(owner_api, world):
    first = owner_api.get("/v1/events?limit=3").json()
    second = owner_api.get(f"/v1/events?limit=3&after={first['last_id']}").json()

    assert first["has_more"] is True
    assert not {e["id"] for e in first["data"]} & {e["id"] for e in second["data"]}
    assert first["data"][-1]["created_at"] >= second["data"][0]["created_at"]


def test_it_refuses_an_invalid_event_limit(owner_api):
    assert_error(owner_api.get("/v1/events?limit=x"), 400, "invalid_request", "invalid_limit")
