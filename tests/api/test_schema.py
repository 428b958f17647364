"""The OpenAPI schema and its docs (SPEC 5.9): public, complete, served without a CDN."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

SPEC_OPERATIONS = {
    "/v1/org-keys": {"get", "post"},
    "/v1/org-keys/{org_key_id}": {"delete"},
    "/v1/apps": {"get", "post"},
    "/v1/apps/{app_id}": {"get", "patch", "delete"},
    "/v1/agents": {"get", "post"},
    "/v1/agents/{agent_id}/identity": {"get"},
    "/.well-known/jwks.json": {"get"},
    "/v1/agents/{agent_id}": {"get", "patch", "delete"},
    "/v1/agents/{agent_id}/keys": {"get", "post"},
    "/v1/agents/{agent_id}/keys/{key_id}": {"delete"},
    "/v1/agents/{agent_id}/keys/{key_id}/rotate": {"post"},
    "/v1/policies": {"get", "post"},
    "/v1/policies/{policy_id}": {"get", "patch", "delete"},
    "/v1/providers": {"get", "post"},
    "/v1/providers/{provider_id}": {"get", "patch", "delete"},
    "/v1/aliases": {"get", "post"},
    "/v1/aliases/{alias_id}": {"get", "patch", "delete"},
    "/v1/apps/{app_id}/guardrails": {"get", "put"},
    "/v1/events": {"get"},
    "/v1/chat/completions": {"post"},
    "/v1/embeddings": {"post"},
    "/v1/models": {"get"},
    "/v1/messages": {"post"},
    "/v1/responses": {"post"},
    "/apps/{app_slug}/v1/chat/completions": {"post"},
    "/apps/{app_slug}/v1/embeddings": {"post"},
    "/apps/{app_slug}/v1/models": {"get"},
    "/apps/{app_slug}/v1/messages": {"post"},
    "/apps/{app_slug}/v1/responses": {"post"},
}
ASSET_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
def schema(db) -> dict:
    response = Client().get("/api/schema?format=json")
    assert response.status_code == 200
    return response.json()


def test_it_serves_the_schema_without_a_credential(db):
    response = Client().get("/api/schema")

    assert response.status_code == 200
    assert b"openapi: 3." in response.content


def test_it_serves_the_schema_even_with_a_bad_credential(db):
    assert Client().get("/api/schema", HTTP_AUTHORIZATION="Bearer aid_org_wrong").status_code == 200


def test_it_documents_every_endpoint_of_the_spec(schema):
    documented = {path: set(item) & {"get", "post", "put", "patch", "delete"} for path, item in schema["paths"].items()}

    for path, methods in SPEC_OPERATIONS.items():
        assert methods <= documented.get(path, set()), path


# Streamed JSON Lines or CSV, and report files: documented with their own media types.
NON_JSON_SUCCESS = {"/v1/logs/export", "/v1/reports/{id}/download"}
# Read without any credential (SPEC 3.10: anyone verifies an agent's identity).
PUBLIC = {"/.well-known/jwks.json"}


def test_it_documents_public_operations_without_credential_or_refusal(schema):
    for path in PUBLIC:
        operation = schema["paths"][path]["get"]
        assert not operation.get("security"), path
        assert not {"401", "403"} & set(operation["responses"]), path
        assert "application/json" in operation["responses"]["200"]["content"], path


def test_it_documents_bodies_answers_and_errors_of_every_operation(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            where = f"{method.upper()} {path}"
            if path in PUBLIC:
                continue
            assert operation.get("security"), where
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert success, where
            if success != ["204"] and path not in NON_JSON_SUCCESS:
                assert "application/json" in operation["responses"][success[0]]["content"], where
            if method in {"post", "put", "patch"} and not path.endswith("/rotate"):
                assert "requestBody" in operation, where
            assert {"401", "403"} <= set(operation["responses"]), where
            error = operation["responses"]["401"]["content"]["application/json"]["schema"]
            # SPEC 3.8: /v1/messages answers errors in Anthropic's shape.
            envelope = "MessagesErrorEnvelope" if path.endswith("/v1/messages") else "ErrorEnvelope"
            assert error == {"$ref": f"#/components/schemas/{envelope}"}, where


def test_it_documents_lists_as_pages(schema):
    page = schema["paths"]["/v1/agents"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    component = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]

    assert set(component["properties"]) == {"object", "data", "has_more", "last_id"}
    assert {p["name"] for p in schema["paths"]["/v1/agents"]["get"]["parameters"]} >= {"limit", "after"}


def test_it_documents_the_key_secret_only_in_the_create_answer(schema):
    components = schema["components"]["schemas"]

    assert "key" in components["KeyCreated"]["properties"]
    assert "key" not in components["Key"]["properties"]
    assert "api_key" not in components["Provider"]["properties"]
    assert "api_key" in components["ProviderInputRequest"]["properties"]


def test_it_declares_the_bearer_schemes(schema):
    schemes = schema["components"]["securitySchemes"]

    assert (schemes["orgKey"]["type"], schemes["orgKey"]["scheme"]) == ("http", "bearer")
    assert schemes["agentKey"]["scheme"] == "bearer"
    guardrails = schema["paths"]["/v1/apps/{app_id}/guardrails"]
    assert {"agentKey": []} in guardrails["get"]["security"]
    assert {"agentKey": []} not in guardrails["put"]["security"]


def test_it_generates_the_schema_without_warnings(db):
    GENERATOR_STATS.reset()

    SchemaGenerator().get_schema(request=None, public=True)

    assert not GENERATOR_STATS, dict(GENERATOR_STATS._warn_cache)


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_it_serves_the_docs_with_local_assets_only(db, path):
    client = Client()
    response = client.get(path)

    assert response.status_code == 200
    assets = ASSET_RE.findall(response.content.decode())
    assert assets
    assert not [url for url in assets if url.startswith(("http://", "https://", "//"))]
    scripts = [url for url in assets if url.endswith((".js", ".css"))]
    assert scripts
    for url in scripts:
        assert client.get(url).status_code == 200, url
    assert "fonts.googleapis.com" not in response.content.decode()


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_it_forbids_the_docs_pages_to_load_anything_from_elsewhere(db, path):
    """The ReDoc bundle shows a logo from cdn.redoc.ly; the policy keeps the browser from fetching it."""
    policy = Client().get(path)["Content-Security-Policy"]

    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for directive in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
        assert "http" not in directives[directive]
        assert "*" not in directives[directive]


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/v1/embeddings", "/v1/models", "/v1/messages", "/apps/demo/v1/chat/completions"],
)
def test_it_leaves_the_proxy_paths_to_the_proxy(path):
    with pytest.raises(Resolver404):
        resolve(path)


def test_it_serves_no_other_static_file_through_the_docs_route(db):
    response = Client().get("/static/drf_spectacular_sidecar/../admin/css/base.css")

    assert response.status_code == 404
