"""The plumbing every dialect shares (``proxy/dialects/``), seen through ``/v1/messages``:
its path belongs to the proxy, policies see it as chat, the record names the dialect, and
errors use the dialect's envelope."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve

from forensics.models import RequestLog
from proxy.asgi_app import ENDPOINTS, proxy_path_match
from proxy.dialects.registry import DIALECTS
from tests import factories

BODY = {"model": "mock-model", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def mock_world(world):
    factories.make_provider(world.tenant, kind="mock", name="mock", models=["mock-*"])
    return world


@pytest.mark.parametrize("path", ["/v1/messages", "/apps/some-app/v1/messages"])
def test_it_serves_every_dialect_path_in_the_proxy(path):
    assert all(endpoint in ENDPOINTS for endpoint in DIALECTS)
    assert proxy_path_match(path)["endpoint"] == "messages"


def test_it_keeps_dialect_paths_out_of_django():
    for endpoint in DIALECTS:
        with pytest.raises(Resolver404):
            resolve(f"/v1/{endpoint}")


def test_it_records_the_dialects_endpoint(mock_world):
    response = mock_world.http(**{"X-API-Key": mock_world.secret}).post("/v1/messages", json=BODY)

    assert response.status_code == 200, response.text
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.endpoint, record.status_code, record.model_requested) == ("messages", 200, "mock-model")


def test_it_lets_a_policy_allowing_chat_allow_the_dialect(mock_world):
    factories.make_policy(mock_world.tenant, tenant_wide=True, allowed_endpoints=["chat"])

    response = mock_world.http(**{"X-API-Key": mock_world.secret}).post("/v1/messages", json=BODY)

    assert response.status_code == 200, response.text


def test_it_refuses_the_dialect_where_chat_is_not_allowed(mock_world):
    factories.make_policy(mock_world.tenant, tenant_wide=True, allowed_endpoints=["embeddings"])

    response = mock_world.http(**{"X-API-Key": mock_world.secret}).post("/v1/messages", json=BODY)

    assert response.status_code == 403
    assert response.json()["error"]["reason"] == "endpoint_not_allowed"
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).endpoint == "messages"


def test_it_answers_errors_in_the_dialects_envelope(mock_world):
    response = mock_world.http(**{"X-API-Key": mock_world.secret}).post("/v1/messages", content=b"{")

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["request_id"] == response.headers["x-request-id"]


def test_it_answers_a_wrong_method_in_the_dialects_envelope(mock_world):
    response = mock_world.http().get("/v1/messages")

    assert response.status_code == 405
    assert response.json()["error"]["reason"] == "method_not_allowed"
    assert response.json()["type"] == "error"
