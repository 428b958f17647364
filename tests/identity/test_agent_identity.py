"""``X-Agent-Identity`` (SPEC 3.10) as a provider sees it: the fake upstream fetches the
gateway's ``/.well-known/jwks.json`` and verifies every request's token with PyJWT alone, on
every endpoint and dialect, natively and translated."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import anthropic
import httpx
import jwt
import pytest

from core.actors import SYSTEM
from identity.identity_keys import jwk_thumbprint
from providers.services import provider_update
from tests import factories
from tests.providers.conftest import provider_for
from tests.providers.test_anthropic import message, stream_events, text_block
from tests.proxy.dialects.test_responses import native_response, native_usage, text_item
from tests.support.identity_outsider import CLAIMS, Outsider, identity_header
from tests.support.servers import default_answer

CLAUDE = "claude-sonnet-4-5"
GPT = "gpt-4o-mini"


@pytest.fixture
def signed(world):
    """The world with an owner on its agent, an anthropic provider, and an outsider checking
    every request the upstream receives against the provider it was meant for."""
    world.agent.owner_email = "owner@example.com"
    world.agent.save(update_fields=["owner_email"])
    world.claude = provider_for(world, "anthropic")
    world.outsider = Outsider(world.gateway.url)
    audience = {"/v1/messages": world.claude.id}

    def checked(answer: Callable) -> Callable:
        def handle(seen):
            world.outsider.check(seen.headers, audience.get(seen.path, world.provider.id))
            return answer(seen)

        return handle

    world.checked = checked
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        world.upstream.behaviour[path] = checked(default_answer)
    return world


def anthropic_answer(seen) -> dict:
    if (seen.json or {}).get("stream"):
        return {"events": stream_events([("text", ["Bon", "jour"], {})])}
    return {"json": message([text_block("Bonjour")])}


def responses_answer(seen) -> dict:
    return {"json": native_response([text_item("Hi")], usage=native_usage())}


def claude_client(world) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=world.secret, base_url=world.gateway.url, max_retries=0, timeout=10)


def chat(world):
    return world.sdk().chat.completions.with_raw_response.create(
        model=GPT, messages=[{"role": "user", "content": "Hi"}]
    )


def chat_stream(world):
    with world.sdk().chat.completions.with_streaming_response.create(
        model=GPT, messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as response:
        list(response.iter_lines())
        return response


def embeddings(world):
    return world.sdk().embeddings.with_raw_response.create(model="text-embedding-3-small", input="Hi")


def messages_native(world):
    return claude_client(world).messages.with_raw_response.create(
        model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    )


def messages_native_stream(world):
    with claude_client(world).messages.with_streaming_response.create(
        model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as response:
        list(response.iter_lines())
        return response


def messages_translated(world):
    return claude_client(world).messages.with_raw_response.create(
        model=GPT, max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    )


def responses_native(world):
    return world.sdk().responses.with_raw_response.create(model="gpt-4o", input="Hi")


def responses_translated(world):
    return world.sdk().responses.with_raw_response.create(model=CLAUDE, input="Hi")


CALLS = {
    "chat": chat,
    "chat-stream": chat_stream,
    "embeddings": embeddings,
    "messages-native": messages_native,
    "messages-native-stream": messages_native_stream,
    "messages-translated": messages_translated,
    "responses-native": responses_native,
    "responses-translated": responses_translated,
}
TO_ANTHROPIC = {"messages-native", "messages-native-stream", "responses-translated"}


@pytest.mark.parametrize("call", list(CALLS))
def test_it_signs_the_agent_on_every_endpoint_and_dialect(signed, call):
    signed.upstream.behaviour["/v1/messages"] = signed.checked(anthropic_answer)
    signed.upstream.behaviour["/v1/responses"] = signed.checked(responses_answer)

    response = CALLS[call](signed)

    assert response.status_code == 200
    assert signed.outsider.failures == []
    assert len(signed.outsider.verified) == 1
    verified = signed.outsider.verified[0]
    claims = verified["claims"]
    assert sorted(claims) == sorted(CLAIMS)
    provider = signed.claude if call in TO_ANTHROPIC else signed.provider
    assert claims == {
        "iss": signed.gateway.url,
        "sub": signed.agent.id,
        "tenant": signed.tenant.id,
        "app": signed.app.id,
        "key": signed.key.id,
        "user": None,
        "fingerprint": signed.agent.fingerprint,
        "owner": "owner@example.com",
        "scope": sorted(signed.key.scopes),
        "aud": provider.id,
        "jti": response.headers["X-Request-ID"],
        "iat": claims["iat"],
        "exp": claims["iat"] + 300,
    }
    assert verified["header"]["alg"] == "ES256"


def test_it_names_the_key_by_its_rfc_7638_thumbprint(signed):
    chat(signed)

    kid = signed.outsider.verified[0]["header"]["kid"]
    jwks = httpx.get(f"{signed.gateway.url}/.well-known/jwks.json").json()
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    # RFC 7638 computed here from the published members, independently of the gateway's code.
    members = json.dumps({m: jwk[m] for m in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(members.encode()).digest()
    assert kid == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert kid == jwk_thumbprint(jwk)
    assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    assert "d" not in jwk


def test_it_names_the_end_user(signed):
    signed.app.identity_header_mode = True
    signed.app.save(update_fields=["identity_header_mode"])

    signed.sdk(default_headers={"X-User-Email": "alice@example.com"}).chat.completions.create(
        model=GPT, messages=[{"role": "user", "content": "Hi"}]
    )

    assert signed.outsider.verified[0]["claims"]["user"] == "alice@example.com"


def test_it_sends_no_identity_to_a_provider_that_turned_it_off(signed):
    provider_update(provider=signed.provider, actor=SYSTEM, data={"send_agent_identity": False})

    chat(signed)

    assert identity_header(signed.upstream.last().headers) is None


def test_a_tampered_token_does_not_verify(signed):
    chat(signed)
    token = signed.outsider.verified[0]["token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "ag_someone_else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    with pytest.raises(jwt.InvalidSignatureError):
        signed.outsider.verify(f"{header}.{forged}.{signature}", signed.provider.id)


def test_the_jwks_needs_no_credential_and_holds_no_private_part(gateway, transactional_db):
    response = httpx.get(f"{gateway.url}/.well-known/jwks.json", headers={"Authorization": "Bearer nonsense"})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "crv", "x", "y", "kid", "use", "alg"}


def test_each_fallback_target_gets_a_token_for_itself(signed):
    second = factories.make_provider(
        signed.tenant, kind="openai", base_url=signed.upstream.url + "/v2", api_key="sk-x", timeout_seconds=2
    )
    factories.make_alias(
        signed.tenant, alias="smart", targets=[
            {"provider_id": signed.provider.id, "model": GPT}, {"provider_id": second.id, "model": GPT},
        ],
    )  # fmt: skip
    signed.upstream.behaviour["/v1/chat/completions"] = lambda seen: {"status": 503, "json": {}}
    seen_tokens = []

    def second_answers(seen):
        seen_tokens.append(identity_header(seen.headers))
        return default_answer(seen)

    signed.upstream.behaviour["/v2/chat/completions"] = second_answers

    signed.sdk().chat.completions.create(model="smart", messages=[{"role": "user", "content": "Hi"}])

    (token,) = seen_tokens
    assert signed.outsider.verify(token, second.id)["aud"] == second.id
