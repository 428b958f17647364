"""Credentials of the management API (SPEC 2 and 5): org keys and console sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import SYSTEM
from forensics.models import Event
from identity.selectors import agent_get
from keys.models import OrgKey
from keys.services import org_key_revoke
from provisioning.services import membership_create
from tests import factories
from tests.api.support import assert_error, client_for


def test_it_refuses_an_unknown_org_key(db):
    response = client_for("aid_org_" + "x" * 40).get("/v1/agents")

    error = assert_error(response, 401, "unauthorized", "invalid_key")
    assert error["type"] == "authentication_error"


def test_it_refuses_a_revoked_org_key(tenant, owner_key):
    org_key, secret = factories.make_org_key(tenant)
    org_key_revoke(org_key=org_key, actor=SYSTEM)

    assert_error(client_for(secret).get("/v1/agents"), 401, "unauthorized", "key_revoked")


def test_it_refuses_an_expired_org_key(tenant):
    _, secret = factories.make_org_key(tenant)
    OrgKey.objects.filter(tenant=tenant).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(client_for(secret).get("/v1/agents"), 401, "unauthorized", "key_expired")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Token abc", "aid_org_abc"])
def test_it_refuses_an_authorization_header_that_is_not_bearer(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    assert_error(client.get("/v1/agents"), 401, "unauthorized", "invalid_key")


def test_it_refuses_an_empty_bearer(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ")

    assert_error(client.get("/v1/agents"), 401, "unauthorized", "missing_credential")


def test_it_refuses_an_agent_key_even_when_it_is_not_valid(db):
    response = client_for("aid_sk_" + "x" * 40).get("/v1/agents")

    assert_error(response, 403, "forbidden", "wrong_credential_type")


def test_it_records_the_last_use_of_an_org_key(owner_api, owner_key):
    assert owner_key[0].last_used_at is None

    owner_api.get("/v1/agents")

    owner_key[0].refresh_from_db()
    assert owner_key[0].last_used_at is not None


def test_it_records_org_key_writes_with_the_org_key_as_actor(owner_api, owner_key):
    agent_id = owner_api.post("/v1/agents", {"name": "a"}, format="json").json()["id"]

    event = Event.objects.get(object_id=agent_id, action="agent.created")
    assert (event.actor_type, event.actor_id) == ("org_key", owner_key[0].id)


def test_it_refuses_a_header_naming_another_tenant_as_unknown(owner_api, outsider):
    response = owner_api.get("/v1/agents", HTTP_X_TENANT_ID=outsider.id)

    assert_error(response, 404, "not_found", "unknown_tenant")


# --- console sessions ---


def session_client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_headers(client: APIClient) -> dict[str, str]:
    """What the console sends: the CSRF cookie's value echoed in X-CSRFToken."""
    token = "t" * 32  # the length and alphabet of a CSRF secret
    client.cookies["csrftoken"] = token
    return {"HTTP_X_CSRFTOKEN": token}


def test_it_lets_a_console_user_read_their_tenant(tenant, world):
    client = session_client(factories.make_console_user(tenant))

    response = client.get("/v1/agents")

    assert response.status_code == 200
    assert [a["id"] for a in response.json()["data"]] == [world["agent"]]


def test_it_refuses_a_session_write_without_a_csrf_token(tenant):
    client = session_client(factories.make_console_user(tenant))

    response = client.post("/v1/agents", {"name": "a"}, format="json")

    assert_error(response, 403, "forbidden", "csrf_failed")


def test_it_accepts_a_session_write_with_a_csrf_token(tenant):
    user = factories.make_console_user(tenant)
    client = session_client(user)

    response = client.post("/v1/agents", {"name": "a"}, format="json", **csrf_headers(client))

    assert response.status_code == 201, response.content
    event = Event.objects.get(object_id=response.json()["id"])
    assert (event.actor_type, event.actor_id) == ("user", str(user.pk))


def test_it_refuses_writes_of_a_console_viewer(tenant):
    client = session_client(factories.make_console_user(tenant, role="viewer"))

    response = client.post("/v1/agents", {"name": "a"}, format="json", **csrf_headers(client))

    assert_error(response, 403, "forbidden", "insufficient_role")


def test_it_hides_other_tenants_from_a_console_user(tenant, outsider):
    client = session_client(factories.make_console_user(tenant))
    foreign = factories.make_agent(outsider)

    assert_error(client.get(f"/v1/agents/{foreign.id}"), 404, "not_found")
    assert_error(client.get("/v1/agents", HTTP_X_TENANT_ID=outsider.id), 404, "not_found", "unknown_tenant")


def test_it_asks_a_superuser_without_a_tenant_to_name_one(db):
    client = session_client(factories.make_console_user(None, superuser=True))

    assert_error(client.get("/v1/agents"), 403, "forbidden", "tenant_required")


def test_it_lets_a_superuser_work_in_the_tenant_named_by_the_header(tenant, outsider):
    client = session_client(factories.make_console_user(None, superuser=True))
    agent = factories.make_agent(outsider)

    response = client.get("/v1/agents", HTTP_X_TENANT_ID=outsider.id)

    assert [a["id"] for a in response.json()["data"]] == [agent.id]


def test_it_gives_a_superuser_with_a_membership_that_tenant_when_none_is_named(tenant, outsider):
    user = factories.make_console_user(None, superuser=True)
    membership_create(tenant=tenant, email=user.username, actor=SYSTEM)
    own = factories.make_agent(tenant)
    foreign = factories.make_agent(outsider)
    client = session_client(user)

    assert [a["id"] for a in client.get("/v1/agents").json()["data"]] == [own.id]
    named = client.get("/v1/agents", HTTP_X_TENANT_ID=outsider.id)
    assert [a["id"] for a in named.json()["data"]] == [foreign.id]


def test_it_answers_a_superuser_naming_an_unknown_tenant_with_404(db):
    client = session_client(factories.make_console_user(None, superuser=True))

    assert_error(client.get("/v1/agents", HTTP_X_TENANT_ID="tn_nope"), 404, "not_found", "unknown_tenant")


def test_it_refuses_a_logged_in_user_without_a_tenant(db):
    from django.contrib.auth import get_user_model

    # Staff, so a console user (a user who is not is no credential at all: test_console_users).
    user = get_user_model().objects.create_user(username="loner", password="pw", is_staff=True)

    assert_error(session_client(user).get("/v1/agents"), 403, "forbidden", "no_tenant")


def test_it_prefers_the_org_key_over_a_session_cookie(tenant, outsider):
    client = session_client(factories.make_console_user(outsider))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.make_org_key(tenant)[1]}")

    # No CSRF token needed: the credential is the header, which a browser does not add by itself.
    response = client.post("/v1/agents", {"name": "a"}, format="json")

    assert response.status_code == 201
    assert agent_get(tenant_id=tenant.id, agent_id=response.json()["id"]) is not None


def test_it_refuses_an_org_key_on_the_next_request_after_its_revocation(tenant):
    org_key, secret = factories.make_org_key(tenant)
    client = client_for(secret)
    assert client.get("/v1/agents").status_code == 200

    org_key_revoke(org_key=org_key, actor=SYSTEM)

    assert_error(client.get("/v1/agents"), 401, "unauthorized", "key_revoked")
