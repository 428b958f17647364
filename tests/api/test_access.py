"""Who may call what, for every endpoint of SPEC 5.0-5.7: the owner's admin, a viewer,
an outsider tenant's admin, an agent key and nobody."""

from __future__ import annotations

import re

import pytest

from tests.api.support import ENDPOINTS, LISTS, Endpoint, assert_error, call, events_of, fill

OBJECT_TYPES = {
    "org_key": "okey_",
    "app": "app_",
    "guardrails": "app_",
    "agent": "ag_",
    "key": "key_",
    "policy": "pol_",
    "provider": "prv_",
    "alias": "als_",
    "event": "evt_",
    "jwt_revocation": "jrv_",
}
WRITES = [e for e in ENDPOINTS if e.writes]
READS = [e for e in ENDPOINTS if not e.writes]
WITH_ID = [e for e in ENDPOINTS if e.names_an_object]
NOT_GUARDRAILS = [e for e in ENDPOINTS if not e.path.endswith("/guardrails")]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_it_lets_the_owner_admin_call_every_endpoint(owner_api, world, endpoint: Endpoint):
    response = call(owner_api, endpoint.method, fill(endpoint.path, world), fill(endpoint.body, world))

    assert response.status_code == endpoint.status, response.content
    if endpoint.status == 204:
        assert not response.content
        return
    body = response.json()
    objects = body["data"] if body["object"] == "list" else [body]
    assert objects
    for obj in objects:
        assert obj["object"] in OBJECT_TYPES
        assert obj["id"].startswith(OBJECT_TYPES[obj["object"]])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", obj["created_at"])


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_it_refuses_every_endpoint_without_a_credential(anon_api, world, endpoint: Endpoint):
    response = call(anon_api, endpoint.method, fill(endpoint.path, world), fill(endpoint.body, world))

    assert_error(response, 401, "unauthorized", "missing_credential")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", WRITES, ids=str)
def test_it_refuses_writes_of_a_viewer(viewer_api, tenant, world, endpoint: Endpoint):
    before = events_of(tenant.id)

    response = call(viewer_api, endpoint.method, fill(endpoint.path, world), fill(endpoint.body, world))

    error = assert_error(response, 403, "forbidden", "insufficient_role")
    assert error["type"] == "permission_error"
    assert events_of(tenant.id) == before


@pytest.mark.parametrize("endpoint", READS, ids=str)
def test_it_lets_a_viewer_read_everything_but_org_keys(viewer_api, world, endpoint: Endpoint):
    response = call(viewer_api, endpoint.method, fill(endpoint.path, world))

    if endpoint.path.startswith("/v1/org-keys"):
        assert_error(response, 403, "forbidden", "insufficient_role")
    else:
        assert response.status_code == 200, response.content


@pytest.mark.parametrize("endpoint", NOT_GUARDRAILS, ids=str)
def test_it_refuses_agent_keys_as_the_wrong_credential_type(agent_key_api, tenant, world, endpoint: Endpoint):
    before = events_of(tenant.id)

    response = call(agent_key_api, endpoint.method, fill(endpoint.path, world), fill(endpoint.body, world))

    assert_error(response, 403, "forbidden", "wrong_credential_type")
    assert events_of(tenant.id) == before


@pytest.mark.parametrize("endpoint", WITH_ID, ids=str)
def test_it_answers_404_to_an_outsider_naming_an_object(outsider_api, tenant, world, endpoint: Endpoint):
    before = events_of(tenant.id)

    response = call(outsider_api, endpoint.method, fill(endpoint.path, world), fill(endpoint.body, world))

    assert_error(response, 404, "not_found")
    assert events_of(tenant.id) == before


@pytest.mark.parametrize("endpoint", WITH_ID, ids=str)
def test_it_answers_an_unknown_id_like_a_foreign_one(owner_api, outsider_api, world, endpoint: Endpoint):
    unknown = {name: f"{value.split('_')[0]}_doesnotexist00" for name, value in world.items()}

    mine = call(owner_api, endpoint.method, fill(endpoint.path, unknown), fill(endpoint.body, world))
    foreign = call(outsider_api, endpoint.method, fill(endpoint.path, world), fill(endpoint.body, world))

    assert_error(mine, 404, "not_found")
    assert (mine.json()["error"]["message"], mine.status_code) == (
        foreign.json()["error"]["message"],
        foreign.status_code,
    )


@pytest.mark.parametrize(("path", "name"), LISTS.items())
def test_it_never_lists_an_object_to_an_outsider(owner_api, outsider_api, world, path: str, name: str):
    own = call(owner_api, "GET", fill(path, world) + "?limit=100").json()
    assert world[name] in [item["id"] for item in own["data"]]

    response = call(outsider_api, "GET", fill(path, world) + "?limit=100")

    if "{" in path:
        assert_error(response, 404, "not_found")
    else:
        assert world[name] not in response.content.decode()


def test_it_never_shows_an_outsider_the_owners_events(owner_api, outsider_api, world):
    assert call(owner_api, "GET", f"/v1/events?object_id={world['agent']}").json()["data"]

    response = call(outsider_api, "GET", "/v1/events?limit=100")

    assert response.status_code == 200
    assert not any(world[name] in response.content.decode() for name in ("app", "agent", "key", "provider", "alias"))
