"""A new object works on every process from the moment its create call has answered (SPEC 1).

For each kind of object, many cycles of: create it through one process's management API,
then send the first proxied call that needs it to the other process, then to the first.
Both processes have the tenant warm from the cycles before, which is when a process that
trusts its cached snapshot answers `agent_suspended`, `unknown_app` or `model_not_found`
for something that exists.
"""

from __future__ import annotations

import os

from tests.consistency.support import GatewayPair, Tally, unique
from tests.support.jwt_fixtures import SigningKey

CYCLES = int(os.environ.get("CONSISTENCY_CYCLES", "200"))


def _world(pair: GatewayPair) -> dict[str, str]:
    """A default app, a mock provider and an agent with a tenant-scoped key, used warm on both."""
    app = pair.create(0, "/v1/apps", {"name": "default", "slug": unique("dflt-"), "is_default": True})
    provider = pair.create(0, "/v1/providers", {"name": "mock", "kind": "mock", "models": ["mock-*"]})
    agent = pair.create(0, "/v1/agents", {"name": "warm"})
    key = pair.create(0, f"/v1/agents/{agent['id']}/keys", {"name": "warm"})
    for on in (0, 1):
        assert pair.chat(on, headers={"X-API-Key": key["key"]}).status_code == 200
    return {"app_id": app["id"], "provider_id": provider["id"], "agent_id": agent["id"], "key": key["key"]}


def _cycles(pair: GatewayPair, one_cycle, cycles: int = CYCLES) -> Tally:
    """Runs the cycles, the create on each process in turn, the first use on the other one."""
    tally = Tally()
    for n in range(cycles):
        created_on = n % 2
        for response in one_cycle(created_on, (1 - created_on, created_on)):
            tally.add(response)
    return tally


def test_it_serves_a_new_agent_and_key_on_every_process_at_once(pair):
    _world(pair)

    def cycle(via, order):
        agent = pair.create(via, "/v1/agents", {"name": unique("agent-")})
        key = pair.create(via, f"/v1/agents/{agent['id']}/keys", {"name": "k"})
        return [pair.chat(on, headers={"X-API-Key": key["key"]}) for on in order]

    assert _cycles(pair, cycle).wrong() == {}


def test_it_serves_a_new_app_and_its_app_scoped_key_on_its_path_at_once(pair):
    world = _world(pair)

    def cycle(via, order):
        slug = unique("app-")
        app = pair.create(via, "/v1/apps", {"name": slug, "slug": slug})
        key = pair.create(via, f"/v1/agents/{world['agent_id']}/keys", {"name": "k", "app_id": app["id"]})
        path = f"/apps/{slug}/v1/chat/completions"
        return [pair.chat(on, path, headers={"X-API-Key": key["key"]}) for on in order]

    assert _cycles(pair, cycle).wrong() == {}


def test_it_serves_a_new_app_named_by_x_app_id_with_a_warm_tenant_key_at_once(pair):
    world = _world(pair)

    def cycle(via, order):
        slug = unique("named-")
        app = pair.create(via, "/v1/apps", {"name": slug, "slug": slug})
        # The app named by id on one process and by slug on the other.
        return [
            pair.chat(on, headers={"X-API-Key": world["key"], "X-App-Id": ref})
            for on, ref in zip(order, (app["id"], slug), strict=True)
        ]

    assert _cycles(pair, cycle).wrong() == {}


def test_it_routes_to_a_new_provider_for_a_new_model_pattern_at_once(pair):
    world = _world(pair)

    def cycle(via, order):
        family = unique("fam")
        pair.create(via, "/v1/providers", {"name": family, "kind": "mock", "models": [f"{family}-*"]})
        return [pair.chat(on, model=f"{family}-large", headers={"X-API-Key": world["key"]}) for on in order]

    assert _cycles(pair, cycle).wrong() == {}


def test_it_resolves_a_new_alias_at_once(pair):
    world = _world(pair)

    def cycle(via, order):
        alias = unique("smart-")
        targets = [{"provider_id": world["provider_id"], "model": "mock-1"}]
        pair.create(via, "/v1/aliases", {"alias": alias, "targets": targets})
        return [pair.chat(on, model=alias, headers={"X-API-Key": world["key"]}) for on in order]

    assert _cycles(pair, cycle).wrong() == {}


def test_it_accepts_a_token_for_a_new_jwt_app_at_once(pair):
    world = _world(pair)
    signer = SigningKey.ec("consistency")
    token = signer.sign({"sub": "user-1", "scope": "chat:completions"})

    def cycle(via, order):
        slug = unique("jwt-")
        jwt = {"public_key_pem": signer.public_pem(), "algorithms": ["ES256"], "agent_id": world["agent_id"]}
        pair.create(via, "/v1/apps", {"name": slug, "slug": slug, "jwt": jwt})
        path = f"/apps/{slug}/v1/chat/completions"
        return [pair.chat(on, path, headers={"X-API-Key": token}) for on in order]

    assert _cycles(pair, cycle).wrong() == {}


def test_it_lists_a_new_alias_and_provider_model_in_v1_models_at_once(pair):
    world = _world(pair)

    def cycle(via, order):
        alias = unique("listed-")
        model = unique("exact-model-")
        targets = [{"provider_id": world["provider_id"], "model": "mock-1"}]
        pair.create(via, "/v1/aliases", {"alias": alias, "targets": targets})
        pair.create(via, "/v1/providers", {"name": model, "kind": "mock", "models": [model]})
        answers = []
        for on in order:
            response = pair.models(on, world["key"])
            listed = {m["id"] for m in response.json()["data"]} if response.status_code == 200 else set()
            answers.append(response if {alias, model} <= listed else (response.status_code, "not listed"))
        return answers

    assert _cycles(pair, cycle, cycles=CYCLES // 4).wrong() == {}


def test_it_serves_a_new_agent_in_the_playground_at_once(pair):
    from django.conf import settings
    from django.test import Client

    from tenants.models import Tenant
    from tests import factories

    _world(pair)
    client = Client()
    client.force_login(factories.make_console_user(Tenant.objects.get(pk=pair.tenant_id)))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    def cycle(via, order):
        agent = pair.create(via, "/v1/agents", {"name": unique("played-")})
        headers = {"Cookie": cookie, "X-Aidgate-Playground": "1", "X-Agent-Id": agent["id"]}
        return [pair.chat(on, headers=headers) for on in order]

    assert _cycles(pair, cycle, cycles=CYCLES // 4).wrong() == {}


def test_it_routes_a_new_alias_that_a_model_family_would_also_take_at_once(pair):
    """``gpt-…`` names route to an ``openai`` provider by their family; an alias of such a
    name created a moment ago elsewhere must win on its first use, not the family."""
    world = _world(pair)
    # The family's provider: a request it gets fails, so a family route shows as a 502.
    pair.create(0, "/v1/providers", {"name": "family", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"})

    def cycle(via, order):
        alias = unique("gpt-fam-")
        targets = [{"provider_id": world["provider_id"], "model": "mock-1"}]
        pair.create(via, "/v1/aliases", {"alias": alias, "targets": targets})
        return [pair.chat(on, model=alias, headers={"X-API-Key": world["key"]}) for on in order]

    assert _cycles(pair, cycle, cycles=CYCLES // 4).wrong() == {}
