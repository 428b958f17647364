"""The official openai SDK against a live gateway and a real fake upstream."""

from __future__ import annotations

import openai
import pytest

from forensics.models import RequestLog
from tests import factories
from tests.support.live_fixtures import UPSTREAM_SECRET


def test_it_answers_a_chat_completion_through_the_sdk(world):
    answer = world.sdk().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert answer.choices[0].message.content == "Hello from upstream"
    assert answer.usage.total_tokens == 9
    sent = world.upstream.last()
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "gpt-4o-mini"


def test_it_streams_chunks_through_the_sdk(world):
    stream = world.sdk().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello from upstream"
    # The gateway asks the upstream for usage so that streamed tokens are counted.
    assert world.upstream.last().json["stream_options"] == {"include_usage": True}
    record = RequestLog.objects.get()
    assert record.stream is True
    assert (record.prompt_tokens, record.completion_tokens) == (5, 3)


def test_it_creates_embeddings_through_the_sdk(world):
    result = world.sdk().embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2
    assert result.data[0].embedding == [0.1, 0.2, 0.3]
    assert world.upstream.last().path == "/v1/embeddings"


def test_it_lists_aliases_and_concrete_models(world):
    factories.make_provider(world.tenant, kind="openai", base_url=world.upstream.url + "/v1", models=["gpt-4o", "o3-*"])
    factories.make_alias(world.tenant, [{"provider_id": world.provider.id, "model": "gpt-4o-mini"}], alias="smart")
    names = [m.id for m in world.sdk().models.list()]
    assert names == ["smart", "gpt-4o"]


def test_it_lists_only_models_the_agent_may_use(world):
    factories.make_provider(
        world.tenant, kind="openai", base_url=world.upstream.url + "/v1", models=["gpt-4o", "gpt-5"]
    )
    from core.actors import SYSTEM
    from identity.services import agent_update

    agent_update(agent=world.agent, actor=SYSTEM, data={"allowed_models": ["gpt-5*"]})
    assert [m.id for m in world.sdk().models.list()] == ["gpt-5"]


def test_it_raises_authentication_error_for_an_unknown_key(world):
    with pytest.raises(openai.AuthenticationError) as caught:
        world.sdk(api_key="aid_sk_" + "x" * 40).models.list()
    assert caught.value.body["reason"] == "invalid_key"


def test_it_raises_permission_denied_for_an_org_key(world):
    _, org_secret = factories.make_org_key(world.tenant)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        world.sdk(api_key=org_secret).models.list()
    assert caught.value.body["reason"] == "wrong_credential_type"


def test_it_raises_not_found_for_a_model_without_provider(world):
    with pytest.raises(openai.NotFoundError) as caught:
        world.sdk().chat.completions.create(model="llama-3", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.body["code"] == "model_not_found"


def test_it_raises_bad_request_for_an_empty_message_list(world):
    with pytest.raises(openai.BadRequestError) as caught:
        world.sdk().chat.completions.create(model="gpt-4o", messages=[])
    assert caught.value.body["code"] == "invalid_request"


def test_it_raises_rate_limit_error_when_the_upstream_is_rate_limited(world):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "status": 429,
        "json": {"error": {"message": "slow down"}},
    }
    with pytest.raises(openai.RateLimitError) as caught:
        world.sdk().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.body["reason"] == "upstream_rate_limited"
    assert caught.value.response.headers["retry-after"]


def test_it_raises_internal_server_error_when_the_upstream_fails(world):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {"status": 500, "json": {"error": {"message": "boom"}}}
    with pytest.raises(openai.InternalServerError) as caught:
        world.sdk().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_error"


def test_it_passes_an_upstream_client_error_with_its_message(world):
    world.upstream.behaviour["/v1/chat/completions"] = lambda r: {
        "status": 400,
        "json": {"error": {"message": "context too long", "type": "invalid_request_error"}},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        world.sdk().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.body["code"] == "upstream_error"
    assert "context too long" in caught.value.body["message"]


def test_it_sends_the_provider_key_and_gateway_ids_upstream_but_not_client_headers(world):
    response = world.http(Authorization=f"Bearer {world.secret}", **{"X-Custom-Secret": "client-only"}).post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    )
    assert response.status_code == 200
    sent = {k.lower(): v for k, v in world.upstream.last().headers.items()}
    assert sent["authorization"] == f"Bearer {UPSTREAM_SECRET}"
    assert sent["x-request-id"] == response.headers["x-request-id"]
    assert sent["x-agent-id"] == world.agent.id
    assert "x-custom-secret" not in sent
    assert world.secret not in str(sent)


def test_it_records_when_a_key_was_last_used(world):
    import time

    from keys.models import Key

    assert Key.objects.get(pk=world.key.pk).last_used_at is None
    world.sdk().models.list()
    deadline = time.monotonic() + 5
    while Key.objects.get(pk=world.key.pk).last_used_at is None:
        assert time.monotonic() < deadline, "last_used_at was never written"
        time.sleep(0.05)
