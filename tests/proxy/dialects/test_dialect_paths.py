"""Paths of the two dialects that the format tests do not take: the app context with the app's
own ``key_name``/``key_location`` (SPEC 3.1) through each SDK, a streamed tool call of the
``anthropic`` kind on ``/v1/responses``, Azure OpenAI's native Responses API, and a chunked
body over ``MAX_REQUEST_BYTES`` (SPEC 4: ``413``)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from django.conf import settings

from apps.services import app_update
from core.actors import SYSTEM
from tests import factories
from tests.providers.conftest import PROVIDER_SECRET, provider_for
from tests.providers.test_anthropic import stream_events
from tests.proxy.dialects.test_responses import (
    CLAUDE,
    WEATHER,
    last_record,
    native_events,
    native_response,
    native_usage,
    record_of,
    text_item,
)

MESSAGES_BODY = {"model": "mock-1", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def mock_world(world):
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    return world


def app_with(world, **inbound):
    """An app of the world's tenant (not its default) that reads the key where ``inbound`` says."""
    app = factories.make_app(world.tenant)
    return app_update(app=app, actor=SYSTEM, data=inbound)


# --- the app context, through each SDK -----------------------------------------------------


def test_the_anthropic_sdk_reaches_an_app_that_reads_authorization(mock_world):
    """``ANTHROPIC_AUTH_TOKEN`` (``auth_token``) sends ``Authorization: Bearer``."""
    app = app_with(mock_world, key_name="Authorization")
    client = anthropic.Anthropic(
        base_url=f"{mock_world.gateway.url}/apps/{app.slug}", auth_token=mock_world.secret, max_retries=0
    )
    answer = client.messages.create(**MESSAGES_BODY)
    assert answer.content[0].text == "Mock answer to: Hi"
    record = last_record()
    assert (record.endpoint, record.app_id, record.status_code) == ("messages", app.id, 200)


def test_the_anthropic_sdk_reaches_an_app_that_reads_its_own_header(mock_world):
    app = app_with(mock_world, key_name="X-Team-Key")
    base_url = f"{mock_world.gateway.url}/apps/{app.slug}"
    client = anthropic.Anthropic(
        base_url=base_url, api_key="not-the-key", default_headers={"X-Team-Key": mock_world.secret}, max_retries=0
    )
    answer = client.messages.create(**MESSAGES_BODY)
    assert answer.content[0].text == "Mock answer to: Hi"
    assert (last_record().endpoint, last_record().app_id) == ("messages", app.id)

    # The SDK's own credential header is not where this app looks.
    elsewhere = anthropic.Anthropic(base_url=base_url, api_key=mock_world.secret, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        elsewhere.messages.create(**MESSAGES_BODY)
    assert caught.value.body["error"]["reason"] == "missing_credential"


def test_the_anthropic_sdk_reaches_an_app_that_reads_a_query_parameter(mock_world):
    app = app_with(mock_world, key_name="team_key", key_location="query")
    client = anthropic.Anthropic(
        base_url=f"{mock_world.gateway.url}/apps/{app.slug}",
        api_key="not-the-key",
        default_query={"team_key": mock_world.secret},
        max_retries=0,
    )
    with client.messages.stream(**MESSAGES_BODY) as stream:
        text = "".join(stream.text_stream)
    assert text == "Mock answer to: Hi"
    record = last_record()
    assert (record.endpoint, record.app_id, record.stream) == ("messages", app.id, True)


def test_the_openai_sdk_reaches_an_app_that_reads_its_own_header_on_responses(mock_world):
    app = app_with(mock_world, key_name="X-Team-Key")
    client = mock_world.sdk(
        api_key="not-the-key", base_path=f"/apps/{app.slug}/v1", default_headers={"X-Team-Key": mock_world.secret}
    )
    answer = client.responses.create(model="mock-1", input="Hi")
    assert answer.output_text == "Mock answer to: Hi"
    record = last_record()
    assert (record.endpoint, record.app_id) == ("responses", app.id)

    with pytest.raises(openai.AuthenticationError) as caught:
        mock_world.sdk(base_path=f"/apps/{app.slug}/v1").responses.create(model="mock-1", input="Hi")
    assert caught.value.body["reason"] == "missing_credential"


def test_the_openai_sdk_reaches_an_app_that_reads_a_query_parameter_on_responses(mock_world):
    app = app_with(mock_world, key_name="api_key", key_location="query")
    client = mock_world.sdk(
        api_key="not-the-key", base_path=f"/apps/{app.slug}/v1", default_query={"api_key": mock_world.secret}
    )
    with client.responses.stream(model="mock-1", input="Hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Mock answer to: Hi"
    record = last_record()
    assert (record.endpoint, record.app_id, record.stream) == ("responses", app.id, True)


def test_an_app_key_of_another_app_is_refused_on_both_dialects(mock_world):
    other = app_with(mock_world)
    _, scoped = factories.make_key(mock_world.agent, app=other)
    # The world's app reads the default place, X-API-Key.
    in_place = {"X-API-Key": scoped}
    sdk = mock_world.sdk(api_key="not-the-key", base_path=f"/apps/{mock_world.app.slug}/v1", default_headers=in_place)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk.responses.create(model="mock-1", input="Hi")
    assert caught.value.body["code"] == "app_mismatch"
    client = anthropic.Anthropic(
        base_url=f"{mock_world.gateway.url}/apps/{mock_world.app.slug}",
        api_key="not-the-key",
        default_headers=in_place,
        max_retries=0,
    )
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        client.messages.create(**MESSAGES_BODY)
    assert refused.value.body["error"]["code"] == "app_mismatch"


# --- a streamed tool call through the anthropic kind on /v1/responses ----------------------


def test_a_streamed_tool_call_of_the_anthropic_kind_reaches_the_sdks_stream_helper(world):
    provider_for(world, "anthropic")
    call = ("tool_use", ['{"city":', ' "Oslo"}'], {"id": "toolu_s1", "name": "get_weather"})
    events = stream_events([("text", ["Let me check."], {}), call], stop_reason="tool_use")
    world.upstream.behaviour["/v1/messages"] = lambda seen: {"events": events}

    with world.sdk().responses.stream(model=CLAUDE, input="Weather in Oslo?", tools=[WEATHER]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()

    assert deltas == ['{"city":', ' "Oslo"}']
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output[0].content[0].text == "Let me check."
    [function_call] = [item for item in final.output if item.type == "function_call"]
    assert (function_call.call_id, function_call.name, function_call.arguments) == (
        "toolu_s1",
        "get_weather",
        '{"city": "Oslo"}',
    )
    assert final.tools[0].name == "get_weather"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (25, 9)  # 20 + 5 cache reads
    sent = world.upstream.last().json
    assert (sent["stream"], sent["tools"][0]["name"]) == (True, "get_weather")
    record = last_record()
    assert (record.endpoint, record.stream, record.status_code, record.error_code) == ("responses", True, 200, None)
    assert (record.prompt_tokens, record.completion_tokens) == (25, 9)


# --- Azure OpenAI's native Responses API ---------------------------------------------------


@pytest.fixture
def azure(world):
    return provider_for(world, "azure_openai", models=["my-deployment"], api_version="2024-10-21")


def test_azure_gets_the_body_natively_on_its_v1_responses_path(world, azure):
    world.upstream.behaviour["/openai/v1/responses"] = lambda seen: {
        "json": native_response([text_item("Hi from Azure")], usage=native_usage(7, 3))
    }
    answer = world.sdk().responses.create(model="my-deployment", input="Hi", instructions="Be brief")
    assert answer.output_text == "Hi from Azure"
    sent = world.upstream.last()
    assert sent.path == "/openai/v1/responses"
    assert "api-version" not in sent.query
    assert sent.headers["api-key"] == PROVIDER_SECRET
    assert "Authorization" not in sent.headers
    assert sent.json == {"model": "my-deployment", "input": "Hi", "instructions": "Be brief", "store": False}
    record = last_record()
    assert (record.endpoint, record.provider_id, record.model_resolved) == ("responses", azure.id, "my-deployment")
    assert (record.prompt_tokens, record.completion_tokens) == (7, 3)


def test_azure_streams_natively_on_its_v1_responses_path(world, azure):
    world.upstream.behaviour["/openai/v1/responses"] = lambda seen: {
        "events": native_events(["Hi", " from Azure"], native_usage(6, 4))
    }
    with world.sdk().responses.stream(model="my-deployment", input="Hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hi from Azure"
    assert world.upstream.last().json["stream"] is True
    record = last_record()
    assert (record.endpoint, record.stream, record.prompt_tokens, record.completion_tokens) == (
        "responses",
        True,
        6,
        4,
    )


# --- a chunked body over the limit ---------------------------------------------------------


def chunked(body_start: bytes, total: int) -> Iterator[bytes]:
    """A body with no Content-Length (``Transfer-Encoding: chunked``), ``total`` bytes long."""
    yield body_start
    sent = len(body_start)
    while sent < total:
        piece = b"x" * min(64 * 1024, total - sent)
        sent += len(piece)
        yield piece


@pytest.mark.parametrize("endpoint", ["messages", "responses"])
def test_a_chunked_body_over_the_limit_is_refused_with_413(mock_world, endpoint):
    body = chunked(b'{"model": "mock-1", "input": "', settings.MAX_REQUEST_BYTES + 1)
    with mock_world.http(**{"X-API-Key": mock_world.secret, "Content-Type": "application/json"}) as client:
        response = client.post(f"/v1/{endpoint}", content=body)
    assert response.status_code == 413
    assert "content-length" not in {k.lower() for k in response.request.headers}
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == ("request_too_large", "request_too_large")
    if endpoint == "messages":
        assert (response.json()["type"], error["type"]) == ("error", "request_too_large")
    else:
        assert error["type"] == "invalid_request_error"
    record = record_of(response.headers["x-request-id"])
    assert (record.endpoint, record.status_code, record.error_code) == (endpoint, 413, "request_too_large")
    assert mock_world.upstream.requests == []
