"""Providers and aliases (SPEC 5.5): the provider API key is write-only."""

from __future__ import annotations

import pytest

from core.crypto import decrypt_secret
from providers.models import Provider
from tests import factories
from tests.api.support import assert_error

UPSTREAM_SECRET = "sk-upstream-secret-0123456789"


def test_it_stores_a_provider_api_key_encrypted_and_never_returns_it(owner_api):
    response = owner_api.post(
        "/v1/providers",
        {"name": "openai", "kind": "openai", "api_key": UPSTREAM_SECRET, "models": ["gpt-*"], "priority": 2},
        format="json",
    )

    assert response.status_code == 201, response.content
    provider = response.json()
    assert provider["api_key_set"] is True
    assert "api_key" not in provider
    assert decrypt_secret(Provider.objects.get(pk=provider["id"]).api_key_encrypted) == UPSTREAM_SECRET
    for path in ("/v1/providers", f"/v1/providers/{provider['id']}", "/v1/events?limit=100"):
        assert UPSTREAM_SECRET not in owner_api.get(path).content.decode()
    assert UPSTREAM_SECRET not in response.content.decode()


def test_it_removes_a_provider_api_key_given_an_empty_one(owner_api, tenant):
    provider = factories.make_provider(tenant, api_key=UPSTREAM_SECRET)

    response = owner_api.patch(f"/v1/providers/{provider.id}", {"api_key": ""}, format="json")

    assert response.json()["api_key_set"] is False


def test_it_keeps_a_provider_api_key_through_other_changes(owner_api, tenant):
    provider = factories.make_provider(tenant, api_key=UPSTREAM_SECRET)

    response = owner_api.patch(f"/v1/providers/{provider.id}", {"timeout_seconds": 5}, format="json")

    assert response.json()["api_key_set"] is True
    assert response.json()["timeout_seconds"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "skynet"},
        {"kind": "openai_compatible"},
        {"base_url": "http://169.254.169.254/latest"},
        {"base_url": "ftp://example.com"},
        {"extra_headers": {"Authorization": "Bearer x"}},
        {"timeout_seconds": 0},
        {"models": ["ok", " padded"]},
    ],
)
def test_it_refuses_invalid_provider_fields(owner_api, body):
    response = owner_api.post("/v1/providers", {"name": "p", "kind": "openai", **body}, format="json")

    error = assert_error(response, 400, "invalid_request")
    assert any(field in error["message"] for field in (*body, "base_url")), error


def test_it_creates_an_alias_with_ordered_targets(owner_api, tenant):
    first, second = factories.make_provider(tenant), factories.make_provider(tenant)
    targets = [{"provider_id": second.id, "model": "b"}, {"provider_id": first.id, "model": "a"}]

    response = owner_api.post("/v1/aliases", {"alias": "smart-default", "targets": targets}, format="json")

    assert response.status_code == 201, response.content
    assert (response.json()["object"], response.json()["targets"]) == ("alias", targets)


@pytest.mark.parametrize(
    "targets",
    [[], [{"provider_id": "prv_nope00000000", "model": "a"}], [{"provider_id": "{provider}"}], "smart"],
)
def test_it_refuses_invalid_alias_targets(owner_api, world, targets):
    if isinstance(targets, list):
        targets = [{k: v.format(**world) for k, v in t.items()} for t in targets]

    response = owner_api.post("/v1/aliases", {"alias": "x", "targets": targets}, format="json")

    assert "targets" in assert_error(response, 400, "invalid_request")["message"]


def test_it_refuses_a_target_provider_of_another_tenant(owner_api, outsider):
    foreign = factories.make_provider(outsider)

    response = owner_api.post(
        "/v1/aliases", {"alias": "x", "targets": [{"provider_id": foreign.id, "model": "a"}]}, format="json"
    )

    assert_error(response, 400, "invalid_request")


def test_it_refuses_an_alias_name_taken_in_the_tenant(owner_api, world, tenant):
    taken = owner_api.get(f"/v1/aliases/{world['alias']}").json()["alias"]
    body = {"alias": taken, "targets": [{"provider_id": world["provider"], "model": "m"}]}

    assert_error(owner_api.post("/v1/aliases", body, format="json"), 400, "invalid_request", "alias_taken")


def test_it_refuses_renaming_an_alias_to_a_taken_name(owner_api, world, tenant):
    other = factories.make_alias(tenant, [{"provider_id": world["provider"], "model": "m"}])

    taken = owner_api.get(f"/v1/aliases/{world['alias']}").json()["alias"]
    response = owner_api.patch(f"/v1/aliases/{other.id}", {"alias": taken}, format="json")

    assert_error(response, 400, "invalid_request")
