"""SPEC 3.1 (finding the credential) and 3.2 (choosing the app): every reason, one test each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.services import app_update
from core.actors import SYSTEM
from identity.services import agent_update
from keys.models import Key
from keys.services import key_revoke
from tests import factories
from tests.support.live_fixtures import chat


def error_of(response) -> dict:
    return response.json()["error"]


def test_it_refuses_a_request_without_credential(world):
    response = world.http().post("/v1/chat/completions", json=chat())
    assert response.status_code == 401
    assert error_of(response)["reason"] == "missing_credential"
    assert error_of(response)["type"] == "authentication_error"


def test_it_refuses_an_unknown_key(world):
    response = world.http(Authorization="Bearer aid_sk_" + "A" * 40).post("/v1/chat/completions", json=chat())
    assert (response.status_code, error_of(response)["reason"]) == (401, "invalid_key")


def test_it_refuses_a_secret_of_no_known_shape(world):
    response = world.http(Authorization="Bearer sk-not-ours").get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (401, "invalid_key")


def test_it_refuses_a_revoked_key(world):
    key_revoke(key=world.key, actor=SYSTEM)
    response = world.http(Authorization=f"Bearer {world.secret}").get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (401, "key_revoked")


def test_it_refuses_an_expired_key(world):
    Key.objects.filter(pk=world.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    world.key.save(update_fields=["updated_at"])  # a write through the ORM, as an edit would be
    response = world.http(Authorization=f"Bearer {world.secret}").get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (401, "key_expired")


def test_it_refuses_an_org_key_on_the_proxy(world):
    _, org_secret = factories.make_org_key(world.tenant)
    response = world.http(**{"X-API-Key": org_secret}).get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (403, "wrong_credential_type")


def test_it_refuses_a_key_of_a_suspended_agent(world):
    agent_update(agent=world.agent, actor=SYSTEM, data={"status": "suspended"})
    response = world.http(Authorization=f"Bearer {world.secret}").get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (403, "agent_suspended")


def test_it_refuses_a_jwt_without_app_context(world):
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    response = world.http(Authorization=f"Bearer {token}").get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (401, "app_required")


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer ", "BEARER "])
def test_it_finds_the_key_in_the_default_places_with_or_without_bearer(world, header, prefix):
    response = world.http(**{header: prefix + world.secret}).get("/v1/models")
    assert response.status_code == 200


def test_it_reads_the_key_from_the_apps_custom_header_under_the_app_path(world):
    app_update(app=world.app, actor=SYSTEM, data={"key_name": "X-Gateway-Token"})
    ok = world.http(**{"X-Gateway-Token": f"Bearer {world.secret}"}).get(f"/apps/{world.app.slug}/v1/models")
    assert ok.status_code == 200
    # Under the app path only the app's own location counts.
    missing = world.http(Authorization=f"Bearer {world.secret}").get(f"/apps/{world.app.slug}/v1/models")
    assert (missing.status_code, error_of(missing)["reason"]) == (401, "missing_credential")


def test_it_reads_the_key_from_a_query_parameter_when_the_app_says_so(world):
    app_update(app=world.app, actor=SYSTEM, data={"key_name": "api_key", "key_location": "query"})
    response = world.http().get(f"/apps/{world.app.slug}/v1/models", params={"api_key": "Bearer " + world.secret})
    assert response.status_code == 200


def test_it_answers_unknown_app_for_an_unknown_slug(world):
    response = world.http(**{"X-API-Key": world.secret}).get("/apps/no-such-app/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (404, "unknown_app")


def test_it_refuses_an_app_scoped_key_on_another_apps_path(world):
    other = factories.make_app(world.tenant)
    _, scoped_secret = factories.make_key(world.agent, app=world.app)
    response = world.http(**{"X-API-Key": scoped_secret}).get(f"/apps/{other.slug}/v1/models")
    assert (response.status_code, error_of(response)["code"]) == (403, "app_mismatch")


def test_it_refuses_another_tenants_key_on_an_app_path(world, outsider):
    foreign_agent = factories.make_agent(outsider)
    _, foreign_secret = factories.make_key(foreign_agent)
    response = world.http(**{"X-API-Key": foreign_secret}).get(f"/apps/{world.app.slug}/v1/models")
    assert (response.status_code, error_of(response)["code"]) == (403, "app_mismatch")


@pytest.mark.parametrize("which", ["other_app", "foreign_app", "unknown"])
def test_it_refuses_an_app_scoped_key_naming_anything_else_in_x_app_id(world, outsider, which):
    _, scoped_secret = factories.make_key(world.agent, app=world.app)
    ref = {
        "other_app": lambda: factories.make_app(world.tenant).id,
        "foreign_app": lambda: factories.make_app(outsider).id,
        "unknown": lambda: "app_doesnotexist00",
    }[which]()
    response = world.http(**{"X-API-Key": scoped_secret, "X-App-Id": ref}).get("/v1/models")
    assert (response.status_code, error_of(response)["code"]) == (403, "app_mismatch")


def test_it_accepts_an_app_scoped_key_naming_its_own_app_by_slug(world):
    _, scoped_secret = factories.make_key(world.agent, app=world.app)
    response = world.http(**{"X-API-Key": scoped_secret, "X-App-Id": world.app.slug}).get("/v1/models")
    assert response.status_code == 200


@pytest.mark.parametrize("which", ["foreign_app", "unknown"])
def test_it_answers_unknown_app_when_a_tenant_key_names_no_app_of_its_tenant(world, outsider, which):
    ref = factories.make_app(outsider).id if which == "foreign_app" else "nope"
    response = world.http(**{"X-API-Key": world.secret, "X-App-Id": ref}).get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (404, "unknown_app")


def test_it_uses_the_app_named_in_x_app_id_for_a_tenant_key(world):
    other = factories.make_app(world.tenant)
    response = world.http(**{"X-API-Key": world.secret, "X-App-Id": other.id}).post("/v1/chat/completions", json=chat())
    assert response.status_code == 200
    from forensics.models import RequestLog

    assert RequestLog.objects.get(id=response.headers["x-request-id"]).app_id == other.id


def test_it_requires_an_app_when_the_tenant_has_no_default(world):
    app_update(app=world.app, actor=SYSTEM, data={"is_default": False})
    response = world.http(**{"X-API-Key": world.secret}).get("/v1/models")
    assert (response.status_code, error_of(response)["reason"]) == (400, "app_required")


def test_it_refuses_an_endpoint_outside_the_keys_scopes(world):
    _, secret = factories.make_key(world.agent, scopes=["models:read"])
    response = world.http(**{"X-API-Key": secret}).post("/v1/chat/completions", json=chat())
    assert (response.status_code, error_of(response)["reason"]) == (403, "scope_missing")


def test_it_refuses_a_model_outside_the_agents_allowed_models(world):
    agent_update(agent=world.agent, actor=SYSTEM, data={"allowed_models": ["gpt-4o-mini"]})
    response = world.http(**{"X-API-Key": world.secret}).post("/v1/chat/completions", json=chat("gpt-4o"))
    assert (response.status_code, error_of(response)["reason"]) == (403, "model_not_allowed")
    assert world.upstream.requests == []
