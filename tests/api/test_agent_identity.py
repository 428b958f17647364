"""``GET /v1/agents/{id}/identity`` and ``GET /.well-known/jwks.json`` (SPEC 3.10), and a
provider's ``send_agent_identity`` (SPEC 5.5)."""

from __future__ import annotations

import hashlib
import json

import jwt
import pytest

from core.actors import SYSTEM
from identity.models import Agent
from identity.services import agent_delete
from tests.api.support import assert_error


def verified(anon_api, token: str) -> dict:
    """Checked as an outsider would: PyJWT and the published keys, nothing else."""
    jwks = jwt.PyJWKSet.from_dict(anon_api.get("/.well-known/jwks.json").json())
    key = jwks[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(token, key, algorithms=["ES256"], options={"require": ["iat", "exp"]})


def test_it_answers_the_identity_document_its_fingerprint_and_a_signed_token(owner_api, anon_api, world, tenant):
    Agent.objects.filter(pk=world["agent"]).update(owner_email="owner@example.com")

    response = owner_api.get(f"/v1/agents/{world['agent']}/identity")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"agent", "fingerprint", "token"}
    canonical = json.dumps(body["agent"], sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == body["fingerprint"]
    assert body["fingerprint"] == owner_api.get(f"/v1/agents/{world['agent']}").json()["fingerprint"]
    assert (body["agent"]["object"], body["agent"]["id"], body["agent"]["tenant_id"]) == (
        "agent", world["agent"], tenant.id,
    )  # fmt: skip
    claims = verified(anon_api, body["token"])
    assert claims == {
        "iss": "http://testserver",
        "sub": world["agent"],
        "tenant": tenant.id,
        "app": world["app"],
        "key": None,
        "user": None,
        "fingerprint": body["fingerprint"],
        "owner": "owner@example.com",
        "scope": [],
        "iat": claims["iat"],
        "exp": claims["iat"] + 24 * 3600,
    }


def test_it_uses_the_configured_issuer(owner_api, anon_api, world, settings):
    settings.AGENT_IDENTITY_ISSUER = "https://gateway.example.com"

    token = owner_api.get(f"/v1/agents/{world['agent']}/identity").json()["token"]

    assert verified(anon_api, token)["iss"] == "https://gateway.example.com"


def test_a_viewer_reads_it_too(viewer_api, world):
    assert viewer_api.get(f"/v1/agents/{world['agent']}/identity").status_code == 200


def test_another_tenants_agent_answers_like_an_unknown_one(outsider_api, world):
    theirs = outsider_api.get(f"/v1/agents/{world['agent']}/identity")
    unknown = outsider_api.get("/v1/agents/ag_doesnotexist/identity")

    assert_error(theirs, 404, "not_found")
    assert_error(unknown, 404, "not_found")
    assert theirs.json()["error"]["message"] == unknown.json()["error"]["message"]


def test_a_deleted_agent_has_no_identity_to_sign(owner_api, world):
    agent_delete(agent=Agent.objects.get(pk=world["agent"]), actor=SYSTEM)

    assert_error(owner_api.get(f"/v1/agents/{world['agent']}/identity"), 404, "not_found")


def test_it_needs_a_credential(anon_api, world):
    assert_error(anon_api.get(f"/v1/agents/{world['agent']}/identity"), 401, "unauthorized", "missing_credential")


def test_the_key_set_is_public(anon_api, db):
    response = anon_api.get("/.well-known/jwks.json")

    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key


def test_a_provider_sends_the_identity_unless_told_not_to(owner_api, world, tenant):
    created = owner_api.post("/v1/providers", {"name": "p", "kind": "mock"}, format="json").json()
    assert created["send_agent_identity"] is True

    changed = owner_api.patch(f"/v1/providers/{created['id']}", {"send_agent_identity": False}, format="json")

    assert changed.json()["send_agent_identity"] is False
    assert owner_api.get(f"/v1/providers/{created['id']}").json()["send_agent_identity"] is False


@pytest.mark.parametrize("value", ["maybe", None, 3])
def test_it_refuses_a_send_agent_identity_that_is_not_a_boolean(owner_api, world, value):
    response = owner_api.patch(f"/v1/providers/{world['provider']}", {"send_agent_identity": value}, format="json")

    assert "send_agent_identity" in assert_error(response, 400, "invalid_request")["message"]
