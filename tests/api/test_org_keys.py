"""Org keys (SPEC 5.0): admin only, the secret shown once, the last admin protected."""

from __future__ import annotations

from core.actors import SYSTEM
from keys.models import OrgKey
from keys.services import org_key_revoke
from tests import factories
from tests.api.support import assert_error, client_for


def test_it_creates_an_org_key_whose_secret_works_once_shown(owner_api):
    response = owner_api.post("/v1/org-keys", {"name": "ci", "role": "viewer", "expires_in_days": 30}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["object"] == "org_key"
    assert body["role"] == "viewer"
    assert body["key"].startswith("aid_org_")
    assert body["prefix"] == body["key"][:12]
    assert body["expires_at"].endswith("Z")
    assert client_for(body["key"]).get("/v1/agents").status_code == 200


def test_it_never_shows_an_org_key_secret_again(owner_api):
    created = owner_api.post("/v1/org-keys", {"name": "ci"}, format="json").json()

    listed = owner_api.get("/v1/org-keys?limit=100")
    fetched = owner_api.get(f"/v1/org-keys/{created['id']}")
    events = owner_api.get("/v1/events?limit=100")

    for response in (listed, fetched, events):
        assert response.status_code == 200
        assert created["key"] not in response.content.decode()
        assert created["key"][12:] not in response.content.decode()
    assert "key" not in fetched.json()


def test_it_defaults_to_an_admin_key_that_never_expires(owner_api):
    body = owner_api.post("/v1/org-keys", {}, format="json").json()

    assert (body["role"], body["expires_at"]) == ("admin", None)


def test_it_refuses_an_unknown_role(owner_api):
    response = owner_api.post("/v1/org-keys", {"role": "owner"}, format="json")

    assert "role" in assert_error(response, 400, "invalid_request")["message"]


def test_it_revokes_an_org_key_so_it_stops_working(owner_api, tenant):
    org_key, secret = factories.make_org_key(tenant, role="viewer")

    response = owner_api.delete(f"/v1/org-keys/{org_key.id}")

    assert response.status_code == 204
    assert_error(client_for(secret).get("/v1/agents"), 401, "unauthorized", "key_revoked")
    assert owner_api.get(f"/v1/org-keys/{org_key.id}").json()["status"] == "revoked"


def test_it_refuses_to_remove_the_last_admin_credential(tenant, owner_key, owner_api):
    for other in OrgKey.objects.filter(tenant=tenant, role="admin").exclude(pk=owner_key[0].pk):
        org_key_revoke(org_key=other, actor=SYSTEM)

    response = owner_api.delete(f"/v1/org-keys/{owner_key[0].id}")

    assert_error(response, 400, "invalid_request", "last_admin")
    assert owner_api.get("/v1/agents").status_code == 200


def test_it_lets_the_last_admin_key_go_when_a_console_admin_remains(tenant, owner_key, owner_api):
    for other in OrgKey.objects.filter(tenant=tenant, role="admin").exclude(pk=owner_key[0].pk):
        org_key_revoke(org_key=other, actor=SYSTEM)
    factories.make_console_user(tenant, role="admin")

    assert owner_api.delete(f"/v1/org-keys/{owner_key[0].id}").status_code == 204


def test_it_does_not_count_viewer_keys_as_admins(tenant, owner_key, owner_api):
    for other in OrgKey.objects.filter(tenant=tenant, role="admin").exclude(pk=owner_key[0].pk):
        org_key_revoke(org_key=other, actor=SYSTEM)
    factories.make_org_key(tenant, role="viewer")

    assert_error(owner_api.delete(f"/v1/org-keys/{owner_key[0].id}"), 400, "invalid_request", "last_admin")


def test_it_revokes_a_revoked_org_key_idempotently(owner_api, tenant):
    org_key, _ = factories.make_org_key(tenant, role="viewer")
    owner_api.delete(f"/v1/org-keys/{org_key.id}")
    org_key.refresh_from_db()
    revoked_at = org_key.revoked_at

    assert owner_api.delete(f"/v1/org-keys/{org_key.id}").status_code == 204

    org_key.refresh_from_db()
    assert org_key.revoked_at == revoked_at
