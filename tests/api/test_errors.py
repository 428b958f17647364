"""Every failure answers the SPEC section 4 envelope, and bad input is never a 500."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.api.support import ENDPOINTS, assert_error, call, fill

CREATES = [e for e in ENDPOINTS if e.method in ("POST", "PATCH", "PUT")]
WRONG_VALUES = [None, True, -1, 10**20, 1.5, "", "x" * 5000, [], [None], ["*", 1], {}, {"a": {"b": []}}]


def test_it_answers_malformed_json_with_the_envelope(owner_api):
    response = owner_api.post("/v1/agents", "{not json", content_type="application/json")

    error = assert_error(response, 400, "invalid_request", "invalid_json")
    assert error["type"] == "invalid_request_error"
    assert "Traceback" not in response.content.decode()


def test_it_refuses_an_unknown_field_and_names_it(owner_api):
    response = call(owner_api, "POST", "/v1/agents", {"name": "a", "colour": "blue"})

    error = assert_error(response, 400, "invalid_request", "unknown_field")
    assert "colour" in error["message"]


def test_it_refuses_a_read_only_field_as_unknown(owner_api, world):
    response = call(owner_api, "PATCH", f"/v1/agents/{world['agent']}", {"fingerprint": "0" * 64})

    error = assert_error(response, 400, "invalid_request", "unknown_field")
    assert "fingerprint" in error["message"]


def test_it_names_a_missing_field(owner_api):
    response = call(owner_api, "POST", "/v1/apps", {"name": "no slug"})

    error = assert_error(response, 400, "invalid_request")
    assert error["message"].startswith("slug:")


def test_it_names_the_field_a_service_refused(owner_api):
    response = call(owner_api, "POST", "/v1/agents", {"name": "a", "allowed_models": []})

    error = assert_error(response, 400, "invalid_request")
    assert "allowed_models" in error["message"]


def test_it_refuses_a_body_that_is_not_an_object(owner_api):
    response = call(owner_api, "POST", "/v1/agents", ["name"])

    assert_error(response, 400, "invalid_request")


def test_it_refuses_a_form_body(owner_api):
    response = owner_api.post("/v1/agents", "name=a", content_type="application/x-www-form-urlencoded")

    assert_error(response, 400, "invalid_request", "unsupported_media_type")


def test_it_answers_an_unknown_path_with_the_envelope(owner_api):
    response = owner_api.get("/v1/no-such-things")

    assert_error(response, 404, "not_found", "unknown_endpoint")


def test_it_answers_a_wrong_method_with_the_envelope(owner_api):
    response = owner_api.put("/v1/agents", {}, format="json")

    assert_error(response, 405, "invalid_request", "method_not_allowed")
    assert "POST" in response["Allow"]


def test_it_sends_the_request_id_of_the_body_as_a_header(owner_api):
    response = owner_api.get("/v1/agents/ag_unknown000000")

    assert response["X-Request-ID"] == response.json()["error"]["request_id"]


def test_it_sends_a_request_id_on_success_too(owner_api):
    assert owner_api.get("/v1/agents")["X-Request-ID"].startswith("req_")


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def request_fields(schema: dict, endpoint) -> list[str]:
    """The fields the schema documents for this operation's body."""
    path = re.sub(r"\{(\w+)\}", r"{\1_id}", endpoint.path)
    body = schema["paths"][path][endpoint.method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    return list(schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["properties"])


@pytest.mark.parametrize("endpoint", CREATES, ids=str)
def test_it_never_answers_a_500_to_wrong_values(owner_api, world, schema, endpoint):
    """Every documented field of every body, with values of every wrong type: 4xx, never a 500."""
    fields = request_fields(schema, endpoint)
    assert fields
    for field in fields:
        for value in WRONG_VALUES:
            body = fill(endpoint.body, world) | {field: value}
            response = call(owner_api, endpoint.method, fill(endpoint.path, world), body)
            assert response.status_code < 500, (field, value, response.content)
            if response.status_code >= 400:
                assert response.json()["error"]["code"]


def test_it_answers_400_to_a_nul_character_in_a_query_or_cursor(owner_api):
    """PostgreSQL refuses NUL in text; found by schemathesis as a 500 on /v1/events."""
    for path in ("/v1/events?after=a%00b", "/v1/agents?after=ag_%00", "/v1/logs?user=x%00y", "/v1/prices?after=%00"):
        response = owner_api.get(path)
        assert response.status_code == 400, (path, response.content)
