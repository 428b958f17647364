"""A key's model list and a JWT revocation, set through one process and obeyed by the other
(SPEC 2, 3.3): a restricted key answers on the other process from its first call, a
revocation within one second, whether or not that process had the token cached."""

from __future__ import annotations

import time

import httpx

from tests.consistency.support import GatewayPair, answer_of, unique

REVOKED = (401, "token_revoked")
NOT_ALLOWED = (403, "model_not_allowed")
OK = (200, None)


def _world(pair: GatewayPair) -> dict[str, str]:
    app = pair.create(0, "/v1/apps", {"name": "default", "slug": unique("dflt-"), "is_default": True})
    pair.create(0, "/v1/providers", {"name": "mock", "kind": "mock", "models": ["mock-*"]})
    agent = pair.create(0, "/v1/agents", {"name": "warm"})
    key = pair.create(0, f"/v1/agents/{agent['id']}/keys", {"name": "warm"})
    for on in (0, 1):
        assert pair.chat(on, headers={"X-API-Key": key["key"]}).status_code == 200
    return {"app_id": app["id"], "app_slug": app["slug"], "agent_id": agent["id"], "key": key["key"]}


def _until(check, answer: tuple[int, str | None], limit: float = 1.0) -> float:
    """Seconds until ``check()`` gives ``answer``; fails past ``limit``."""
    started = time.monotonic()
    while True:
        seen = answer_of(check())
        elapsed = time.monotonic() - started
        if seen == answer:
            return elapsed
        assert elapsed < limit, f"still {seen} after {elapsed:.2f}s"
        time.sleep(0.02)


def test_a_key_restricted_through_one_process_answers_on_the_other_at_once(pair):
    world = _world(pair)
    for n in range(20):
        via, other = n % 2, 1 - n % 2
        key = pair.create(via, f"/v1/agents/{world['agent_id']}/keys", {"name": "k", "allowed_models": ["mock-1"]})
        headers = {"X-API-Key": key["key"]}
        assert answer_of(pair.chat(other, model="mock-2", headers=headers)) == NOT_ALLOWED
        assert answer_of(pair.chat(other, model="mock-1", headers=headers)) == OK
        listed = pair.models(other, key["key"]).json()["data"]
        assert all(m["id"] == "mock-1" for m in listed)
        assert answer_of(pair.chat(via, model="mock-2", headers=headers)) == NOT_ALLOWED


def test_a_key_narrowed_later_is_refused_on_the_other_process_within_a_second(pair):
    from core.actors import SYSTEM
    from keys.models import Key
    from keys.services import key_update

    world = _world(pair)
    key = pair.create(0, f"/v1/agents/{world['agent_id']}/keys", {"name": "k"})
    headers = {"X-API-Key": key["key"]}
    for on in (0, 1):
        assert answer_of(pair.chat(on, model="mock-2", headers=headers)) == OK  # cached on both
    # The console's edit: the service the admin calls.
    key_update(key=Key.objects.get(pk=key["id"]), actor=SYSTEM, data={"allowed_models": ["mock-1"]})
    for on in (1, 0):
        _until(lambda on=on: pair.chat(on, model="mock-2", headers=headers), NOT_ALLOWED)


def _jwt_app(pair: GatewayPair, world: dict[str, str], jwks_url: str) -> dict:
    slug = unique("jwt-")
    settings = {"jwks_url": jwks_url, "agent_id": world["agent_id"]}
    return pair.create(0, "/v1/apps", {"name": slug, "slug": slug, "jwt": settings})


def _token_chat(pair: GatewayPair, on: int, slug: str, token: str) -> httpx.Response:
    return pair.chat(on, f"/apps/{slug}/v1/chat/completions", headers={"X-API-Key": token})


def test_a_revoked_jti_is_refused_on_the_other_process_within_a_second_cached_or_not(pair, jwks, signing_key):
    world = _world(pair)
    app = _jwt_app(pair, world, jwks.url)
    cached = signing_key.sign({"sub": "u1", "jti": "token-a", "scope": "chat:completions"})
    fresh = signing_key.sign({"sub": "u2", "jti": "token-b", "scope": "chat:completions"})
    other = signing_key.sign({"sub": "u1", "jti": "token-c", "scope": "chat:completions"})
    for on in (0, 1):
        assert answer_of(_token_chat(pair, on, app["slug"], cached)) == OK  # validated and cached

    for jti in ("token-a", "token-b"):
        pair.create(0, f"/v1/apps/{app['id']}/jwt-revocations", {"jti": jti})
    _until(lambda: _token_chat(pair, 1, app["slug"], cached), REVOKED)
    assert answer_of(_token_chat(pair, 1, app["slug"], fresh)) == REVOKED  # never validated there
    assert answer_of(_token_chat(pair, 0, app["slug"], cached)) == REVOKED
    assert answer_of(_token_chat(pair, 1, app["slug"], other)) == OK  # another token of the subject


def test_a_revoked_subject_is_refused_on_the_other_process_and_a_later_token_is_not(pair, jwks, signing_key):
    world = _world(pair)
    app = _jwt_app(pair, world, jwks.url)
    before = signing_key.sign({"sub": "mallory", "scope": "chat:completions"})
    no_iat = signing_key.sign({"sub": "mallory", "iat": None, "scope": "chat:completions"})
    for on in (0, 1):
        assert answer_of(_token_chat(pair, on, app["slug"], before)) == OK
    time.sleep(1.1)  # iat has whole seconds: the revocation comes a second after the token
    revocation = pair.create(1, f"/v1/apps/{app['id']}/jwt-revocations", {"sub": "mallory"})

    _until(lambda: _token_chat(pair, 0, app["slug"], before), REVOKED)
    assert answer_of(_token_chat(pair, 0, app["slug"], no_iat)) == REVOKED
    time.sleep(1.1)
    after = signing_key.sign({"sub": "mallory", "scope": "chat:completions"})
    assert answer_of(_token_chat(pair, 0, app["slug"], after)) == OK

    # Lifting it: the old token works again on both processes within a second.
    pair.change(0, "DELETE", f"/v1/apps/{app['id']}/jwt-revocations/{revocation['id']}")
    for on in (1, 0):
        _until(lambda on=on: _token_chat(pair, on, app["slug"], before), OK)
