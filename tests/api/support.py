"""Helpers of the management API tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rest_framework.test import APIClient

from forensics.models import Event


def client_for(secret: str | None) -> APIClient:
    client = APIClient()
    if secret is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def call(client: APIClient, method: str, path: str, body: Any = None):
    """One request, with a JSON body when one is given."""
    send = getattr(client, method.lower())
    return send(path) if body is None else send(path, body, format="json")


def assert_error(response, status: int, code: str, reason: str | None = None) -> dict[str, Any]:
    """The response is the SPEC section 4 envelope with this status, code and reason."""
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == (code, reason or code), error
    assert set(error) >= {"code", "reason", "message", "type", "request_id"}
    assert error["request_id"].startswith("req_")
    return error


def events_of(tenant_id: str) -> int:
    return Event.objects.filter(tenant_id=tenant_id).count()


def fill(value: Any, ids: dict[str, str]) -> Any:
    """Replace ``{name}`` placeholders in paths and bodies with the ids of ``world``."""
    if isinstance(value, str):
        return value.format(**ids)
    return json.loads(json.dumps(value), object_hook=lambda d: {k: fill(v, ids) for k, v in d.items()})


@dataclass(frozen=True)
class Endpoint:
    """One operation of SPEC 5.0-5.7 and what an owner admin gets from it."""

    method: str
    path: str
    body: Any = None
    status: int = 200

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    @property
    def names_an_object(self) -> bool:
        return "{" in self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "/v1/org-keys"),
    Endpoint("POST", "/v1/org-keys", {"name": "ci", "role": "viewer"}, 201),
    Endpoint("GET", "/v1/org-keys/{org_key}"),
    Endpoint("DELETE", "/v1/org-keys/{org_key}", status=204),
    Endpoint("GET", "/v1/apps"),
    Endpoint("POST", "/v1/apps", {"name": "New", "slug": "new-app"}, 201),
    Endpoint("GET", "/v1/apps/{app}"),
    Endpoint("PATCH", "/v1/apps/{app}", {"description": "changed"}),
    Endpoint("DELETE", "/v1/apps/{app}", status=204),
    Endpoint("GET", "/v1/apps/{app}/guardrails"),
    Endpoint("PUT", "/v1/apps/{app}/guardrails", {"pii": "redact"}),
    Endpoint("GET", "/v1/apps/{app}/jwt-revocations"),
    Endpoint("POST", "/v1/apps/{app}/jwt-revocations", {"sub": "mallory"}, 201),
    Endpoint("GET", "/v1/apps/{app}/jwt-revocations/{jwt_revocation}"),
    Endpoint("DELETE", "/v1/apps/{app}/jwt-revocations/{jwt_revocation}", status=204),
    Endpoint("GET", "/v1/agents"),
    Endpoint("POST", "/v1/agents", {"name": "new agent"}, 201),
    Endpoint("GET", "/v1/agents/{agent}"),
    Endpoint("PATCH", "/v1/agents/{agent}", {"status": "suspended"}),
    Endpoint("DELETE", "/v1/agents/{agent}", status=204),
    Endpoint("GET", "/v1/agents/{agent}/keys"),
    Endpoint("POST", "/v1/agents/{agent}/keys", {"name": "new key"}, 201),
    Endpoint("GET", "/v1/agents/{agent}/keys/{key}"),
    Endpoint("DELETE", "/v1/agents/{agent}/keys/{key}", status=204),
    Endpoint("POST", "/v1/agents/{agent}/keys/{key}/rotate", {"grace_seconds": 60}, 201),
    Endpoint("GET", "/v1/policies"),
    Endpoint("POST", "/v1/policies", {"name": "p", "requests_per_minute": 10}, 201),
    Endpoint("GET", "/v1/policies/{policy}"),
    Endpoint("PATCH", "/v1/policies/{policy}", {"enabled": False}),
    Endpoint("DELETE", "/v1/policies/{policy}", status=204),
    Endpoint("GET", "/v1/providers"),
    Endpoint("POST", "/v1/providers", {"name": "p", "kind": "mock"}, 201),
    Endpoint("GET", "/v1/providers/{provider}"),
    Endpoint("PATCH", "/v1/providers/{provider}", {"priority": 5}),
    Endpoint("DELETE", "/v1/providers/{provider}", status=204),
    Endpoint("GET", "/v1/aliases"),
    Endpoint("POST", "/v1/aliases", {"alias": "new", "targets": [{"provider_id": "{provider}", "model": "m"}]}, 201),
    Endpoint("GET", "/v1/aliases/{alias}"),
    Endpoint("PATCH", "/v1/aliases/{alias}", {"alias": "renamed"}),
    Endpoint("DELETE", "/v1/aliases/{alias}", status=204),
    Endpoint("GET", "/v1/events"),
]
LISTS = {
    "/v1/org-keys": "org_key",
    "/v1/apps": "app",
    "/v1/apps/{app}/jwt-revocations": "jwt_revocation",
    "/v1/agents": "agent",
    "/v1/agents/{agent}/keys": "key",
    "/v1/policies": "policy",
    "/v1/providers": "provider",
    "/v1/aliases": "alias",
}
