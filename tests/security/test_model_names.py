"""A model name can never reshape an upstream URL, and an allowed-models glob stays within
one path segment (SPEC 3.6, 3.4)."""

from __future__ import annotations

import time

import pytest

from apps.services import policy_create
from core.actors import SYSTEM
from core.validation import model_glob_compile
from identity.services import agent_update
from tests import factories
from tests.providers.conftest import provider_for
from tests.support.live_fixtures import chat

HOSTILE_NAMES = [
    "gpt-4o/../../admin",
    "gpt-4o//files",
    "/v1/files",
    "gpt-4o?alt=media",
    "gpt-4o#fragment",
    "gpt-4o%2F..%2Fadmin",
    "gpt\\4o",
    "gpt-4o\nX-Injected: 1",
    "gpt 4o",
    "gpt-4ö",
    "g" * 257,
]


@pytest.mark.parametrize("model", HOSTILE_NAMES)
def test_it_refuses_a_model_name_outside_the_rule_before_anything_goes_upstream(world, model):
    with world.http(**{"X-API-Key": world.secret}) as client:
        response = client.post("/v1/chat/completions", json=chat(model))
        embeddings = client.post("/v1/embeddings", json={"model": model, "input": "hi"})
    for answer in (response, embeddings):
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_request")
        assert answer.json()["error"]["reason"] == "invalid_model"
    assert world.upstream.requests == []


def test_it_accepts_every_character_the_rule_allows(world):
    model = "gpt-4o:ft-org@v1.2+a_b/c"
    with world.http(**{"X-API-Key": world.secret}) as client:
        assert client.post("/v1/chat/completions", json=chat(model)).status_code == 200
    assert world.upstream.last().json["model"] == model


def test_it_keeps_a_gemini_model_in_its_own_path_segment(world):
    provider_for(world, "gemini", models=["tuned/**", "models/**"])
    with world.http(**{"X-API-Key": world.secret}) as client:
        client.post("/v1/chat/completions", json=chat("tuned/a:streamGenerateContent"))
        client.post("/v1/chat/completions", json=chat("models/gemini-2.5-flash"))
    paths = [seen.raw_path for seen in world.upstream.requests]
    # The slash is escaped; the colon is legal inside a segment, and the HTTP client sends it as is.
    assert paths[0].split("?")[0] == "/v1beta/models/tuned%2Fa:streamGenerateContent:generateContent"
    assert paths[1].split("?")[0] == "/v1beta/models/gemini-2.5-flash:generateContent"


def test_it_keeps_an_azure_deployment_in_its_own_path_segment(world):
    provider_for(world, "azure_openai", models=["team/**"])
    with world.http(**{"X-API-Key": world.secret}) as client:
        client.post("/v1/chat/completions", json=chat("team/gpt-4o:mini"))
    assert world.upstream.last().raw_path.split("?")[0] == "/openai/deployments/team%2Fgpt-4o:mini/chat/completions"


def test_it_stops_an_allowed_models_star_at_a_slash_on_agents_and_policies(world):
    factories.make_provider(world.tenant, kind="openai", base_url=world.upstream.url + "/v1", models=["org/*"])
    agent_update(agent=world.agent, actor=SYSTEM, data={"allowed_models": ["gpt-*", "org/**"]})
    with world.http(**{"X-API-Key": world.secret}) as client:
        answers = {m: client.post("/v1/chat/completions", json=chat(m)) for m in ("gpt-4o", "gpt-4o/x", "org/a/b")}
    assert answers["gpt-4o"].status_code == 200
    assert (answers["gpt-4o/x"].status_code, answers["gpt-4o/x"].json()["error"]["reason"]) == (
        403,
        "model_not_allowed",
    )
    assert answers["org/a/b"].status_code == 200

    other = factories.make_agent(world.tenant)
    _, secret = factories.make_key(other)
    policy_create(tenant_id=world.tenant.id, actor=SYSTEM, name="p", tenant_wide=True, allowed_models=["gpt-*"])
    with world.http(**{"X-API-Key": secret}) as client:
        refused = client.post("/v1/chat/completions", json=chat("gpt-4o/x"))
    assert refused.status_code == 403


def test_it_matches_a_glob_built_to_backtrack_in_linear_time(world):
    """``*a*a…b`` against ``aaa…`` took seconds a request on a backtracking engine, on the event
    loop that serves every tenant."""
    agent_update(agent=world.agent, actor=SYSTEM, data={"allowed_models": ["*a*a*a*a*a*a*a*a*a*a*a*a*b"]})
    with world.http(**{"X-API-Key": world.secret}) as client:
        started = time.monotonic()
        refused = client.post("/v1/chat/completions", json=chat("a" * 250))
    assert (refused.status_code, refused.json()["error"]["reason"]) == (403, "model_not_allowed")
    assert time.monotonic() - started < 3


def test_it_keeps_glob_classes_within_a_segment_and_a_leading_caret_literal():
    assert model_glob_compile("gpt[!x]*").fullmatch("gpt/evil") is None
    assert model_glob_compile("gpt[!x]*").fullmatch("gpt-4o") is not None
    assert model_glob_compile("[^x]y").fullmatch("^y") is not None
    assert model_glob_compile("[^x]y").fullmatch("ay") is None


def test_it_lets_a_stored_glob_that_no_longer_compiles_match_nothing(world):
    from identity.models import Agent

    Agent.objects.filter(pk=world.agent.pk).update(allowed_models=["[z-a]*"])  # stored before validation
    factories.make_agent(world.tenant)  # any write: the gateway reloads the tenant
    with world.http(**{"X-API-Key": world.secret}) as client:
        refused = client.post("/v1/chat/completions", json=chat("gpt-4o"))
    assert (refused.status_code, refused.json()["error"]["reason"]) == (403, "model_not_allowed")
