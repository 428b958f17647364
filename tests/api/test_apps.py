"""Apps (SPEC 5.1)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apps.models import App
from tests import factories
from tests.api.support import assert_error


def public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_it_creates_an_app_with_its_settings(owner_api):
    body = {
        "name": "Support bot",
        "slug": "support-bot",
        "description": "d",
        "key_name": "Authorization",
        "identity_header_mode": True,
        "enforce_identity": True,
        "allowed_user_domains": ["Example.com"],
        "scope_prefix": "aid.",
    }

    response = owner_api.post("/v1/apps", body, format="json")

    assert response.status_code == 201, response.content
    app = response.json()
    assert (app["object"], app["slug"], app["key_location"], app["jwt"]) == ("app", "support-bot", "header", None)
    assert app["allowed_user_domains"] == ["example.com"]
    assert app["id"].startswith("app_")
    assert app["created_at"].endswith("Z")


def test_it_refuses_a_slug_taken_in_another_tenant(owner_api, outsider):
    factories.make_app(outsider, slug="taken")

    response = owner_api.post("/v1/apps", {"name": "x", "slug": "taken"}, format="json")

    error = assert_error(response, 400, "invalid_request", "slug_taken")
    assert outsider.id not in error["message"]


@pytest.mark.parametrize("slug", ["Upper", "has space", "-edge", "a_b", "x" * 65])
def test_it_refuses_a_slug_that_cannot_be_a_path(owner_api, slug):
    response = owner_api.post("/v1/apps", {"name": "x", "slug": slug}, format="json")

    assert "slug" in assert_error(response, 400, "invalid_request")["message"]


def test_it_refuses_an_empty_domain_list(owner_api):
    response = owner_api.post("/v1/apps", {"name": "x", "slug": "x", "allowed_user_domains": []}, format="json")

    assert "allowed_user_domains" in assert_error(response, 400, "invalid_request")["message"]


def test_it_accepts_and_returns_a_jwt_verifier(owner_api, world):
    jwt = {"public_key_pem": public_pem(), "agent_id": world["agent"], "algorithms": ["ES256"], "issuer": "idp"}

    response = owner_api.post("/v1/apps", {"name": "x", "slug": "jwt-app", "jwt": jwt}, format="json")

    assert response.status_code == 201, response.content
    stored = response.json()["jwt"]
    assert stored["public_key_pem"] == jwt["public_key_pem"]
    assert stored["algorithms"] == ["ES256"]
    assert stored["leeway_seconds"] == 30


def test_it_accepts_claim_bindings_and_a_scope_map(owner_api, world):
    jwt = {
        "public_key_pem": public_pem(), "agent_id": world["agent"], "algorithms": ["ES256"],
        "required_claims": {"org_id": "acme", "groups": ["ai-users", "admins"], "tier": 2},
        "scope_map": {"portkey.completions.write": "chat:completions"},
    }  # fmt: skip

    response = owner_api.post("/v1/apps", {"name": "x", "slug": "jwt-app", "jwt": jwt}, format="json")

    assert response.status_code == 201, response.content
    stored = response.json()["jwt"]
    # A single value is kept as a one-value list: one shape to read back.
    assert stored["required_claims"] == {"org_id": ["acme"], "groups": ["ai-users", "admins"], "tier": [2]}
    assert stored["scope_map"] == {"portkey.completions.write": "chat:completions"}
    listed = owner_api.patch(
        f"/v1/apps/{response.json()['id']}", {"jwt": {**jwt, "required_claims": ["org_id"]}}, format="json"
    )
    assert listed.json()["jwt"]["required_claims"] == ["org_id"]


@pytest.mark.parametrize(
    "jwt",
    [
        {"public_key_pem": "PEM", "agent_id": "{agent}"},
        {"jwks_json": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "agent_id": "{agent}"},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "algorithms": ["HS256"]},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "algorithms": ["none"]},
        {"public_key_pem": "{pem}"},
        {"public_key_pem": "{pem}", "agent_id": "{foreign_agent}"},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "unknown": 1},
        ["not", "an", "object"],
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "required_claims": "org_id"},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "required_claims": {"org_id": []}},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "required_claims": {"org_id": None}},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "required_claims": {"org_id": {"a": 1}}},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "required_claims": {"org_id": ["acme", [1]]}},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "required_claims": {"": "acme"}},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "scope_map": ["a", "b"]},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "scope_map": {"x.write": "chat"}},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "scope_map": {"x.write": ["chat:completions"]}},
        {"public_key_pem": "{pem}", "agent_id": "{agent}", "scope_map": {"a b": "embeddings"}},
    ],
)
def test_it_refuses_an_invalid_jwt_verifier(owner_api, world, outsider, jwt):
    ids = {"agent": world["agent"], "pem": public_pem(), "foreign_agent": factories.make_agent(outsider).id}
    if isinstance(jwt, dict):
        jwt = {k: v.format(**ids) if isinstance(v, str) else v for k, v in jwt.items()}

    response = owner_api.post("/v1/apps", {"name": "x", "slug": "jwt-app", "jwt": jwt}, format="json")

    assert assert_error(response, 400, "invalid_request")["message"].startswith("jwt:")
    assert not App.objects.filter(slug="jwt-app").exists()


def test_it_changes_only_the_fields_sent(owner_api, world):
    before = owner_api.get(f"/v1/apps/{world['app']}").json()

    response = owner_api.patch(f"/v1/apps/{world['app']}", {"enforce_identity": True}, format="json")

    after = response.json()
    assert response.status_code == 200
    assert after["enforce_identity"] is True
    assert {k: v for k, v in after.items() if k not in ("enforce_identity", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("enforce_identity", "updated_at")
    }


def test_it_moves_the_default_to_the_app_made_default(owner_api, tenant):
    first = factories.make_app(tenant, is_default=True)
    second = factories.make_app(tenant)

    owner_api.patch(f"/v1/apps/{second.id}", {"is_default": True}, format="json")

    assert owner_api.get(f"/v1/apps/{first.id}").json()["is_default"] is False
    assert owner_api.get(f"/v1/apps/{second.id}").json()["is_default"] is True


def test_it_deletes_an_app(owner_api, world):
    assert owner_api.delete(f"/v1/apps/{world['app']}").status_code == 204

    assert_error(owner_api.get(f"/v1/apps/{world['app']}"), 404, "not_found")
