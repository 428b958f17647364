"""The SSRF guard on provider ``base_url`` and JWT ``jwks_url`` (SPEC 8): link-local and
metadata addresses are refused always, loopback and private ones unless
``ALLOW_PRIVATE_UPSTREAMS`` is on — at write time, and again at request time after DNS, for
the address the gateway actually connects to."""

from __future__ import annotations

import pytest

from forensics.models import RequestLog
from proxy.jwt_verification import TokenVerifier
from proxy.upstream import UpstreamClient
from tests import factories
from tests.api.support import client_for
from tests.security.support import StaticResolver
from tests.support.live_fixtures import chat

METADATA = "169.254.169.254"


@pytest.fixture
def org_api(tenant):
    return client_for(factories.make_org_key(tenant)[1])


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/",
        "http://0251.0376.0251.0376/",  # 169.254.169.254, spelled in octal
        "http://2852039166/",  # 169.254.169.254, as one number
        "http://[::ffff:a9fe:a9fe]/",
        "http://168.63.129.16/",  # Azure's wire server
    ],
)
def test_it_refuses_metadata_and_link_local_base_urls_on_write(org_api, settings, base_url, allow_private):
    settings.ALLOW_PRIVATE_UPSTREAMS = allow_private

    response = org_api.post(
        "/v1/providers", {"name": "p", "kind": "openai_compatible", "base_url": base_url}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080/v1", "http://2130706433/v1", "http://0x7f.1/v1", "http://10.1.2.3/v1",
                 "http://localhost:11434/v1", "http://100.64.0.1/v1", "http://[fec0::1]/v1"],
)  # fmt: skip
def test_it_refuses_private_base_urls_on_write_unless_allowed(org_api, settings, base_url):
    body = {"name": "p", "kind": "openai_compatible", "base_url": base_url}
    settings.ALLOW_PRIVATE_UPSTREAMS = False
    refused = org_api.post("/v1/providers", body, format="json")
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    accepted = org_api.post("/v1/providers", body, format="json")

    assert refused.status_code == 400, refused.content
    assert accepted.status_code == 201, accepted.content


@pytest.mark.parametrize("jwks_url", ["http://169.254.169.254/jwks.json", "http://metadata/jwks.json"])
def test_it_refuses_a_metadata_jwks_url_on_write(org_api, tenant, settings, jwks_url):
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    app = factories.make_app(tenant)
    agent = factories.make_agent(tenant)

    response = org_api.patch(f"/v1/apps/{app.id}", {"jwt": {"agent_id": agent.id, "jwks_url": jwks_url}}, format="json")

    assert response.status_code == 400, response.content


def guarded(world, hosts: dict[str, str]) -> StaticResolver:
    """Resolve made-up names for the live gateway, under its SSRF guard."""
    resolver = StaticResolver(hosts)
    runtime = world.gateway.app.proxy.runtime
    runtime.upstream = UpstreamClient(resolver=resolver)
    runtime.tokens = TokenVerifier(resolver=resolver)
    return resolver


def ask(world, model: str = "gpt-4o-mini"):
    with world.http(**{"X-API-Key": world.secret}) as client:
        return client.post("/v1/chat/completions", json=chat(model))


def assert_address_refused(response) -> None:
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == ("upstream_error", "upstream_address_refused")
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_reason) == (502, "upstream_address_refused")


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize(
    "address",
    [METADATA, "169.254.1.1", "fe80::1", "100.100.100.200", "168.63.129.16", "0.0.0.0"],  # noqa: S104 (refused, never bound)
)
def test_it_refuses_a_host_name_resolving_to_a_metadata_or_link_local_address(world, settings, address, allow_private):
    settings.ALLOW_PRIVATE_UPSTREAMS = allow_private
    resolver = guarded(world, {"innocent.example": address})
    factories.make_provider(
        world.tenant, kind="openai_compatible", base_url="http://innocent.example/v1", models=["x-*"]
    )

    response = ask(world, "x-1")

    assert_address_refused(response)
    assert resolver.lookups == ["innocent.example"]  # refused after resolution, not by its name


@pytest.mark.parametrize("address", ["100.64.0.1", "100.127.1.2", "fec0::1", "fec0:1::5"])
def test_it_refuses_a_host_name_resolving_to_a_non_global_address_while_private_upstreams_are_off(
    world, settings, address
):
    settings.ALLOW_PRIVATE_UPSTREAMS = False
    resolver = guarded(world, {"carrier.example": address})
    factories.make_provider(
        world.tenant, kind="openai_compatible", base_url="http://carrier.example/v1", models=["x-*"]
    )

    response = ask(world, "x-1")

    assert_address_refused(response)
    assert resolver.lookups == ["carrier.example"]


def test_it_refuses_a_host_name_resolving_to_loopback_only_while_private_upstreams_are_off(world, settings):
    resolver = guarded(world, {"rebound.example": "127.0.0.1"})
    port = world.upstream.port
    factories.make_provider(
        world.tenant, kind="openai_compatible", base_url=f"http://rebound.example:{port}/v1", models=["x-*"]
    )

    settings.ALLOW_PRIVATE_UPSTREAMS = False
    refused = ask(world, "x-1")
    assert_address_refused(refused)
    assert world.upstream.requests == []  # never connected

    settings.ALLOW_PRIVATE_UPSTREAMS = True
    allowed = ask(world, "x-1")
    assert allowed.status_code == 200
    assert len(world.upstream.requests) == 1
    assert resolver.lookups.count("rebound.example") == 2


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_it_refuses_a_loopback_base_url_written_while_allowed_once_private_upstreams_are_off(world, settings, host):
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    factories.make_provider(
        world.tenant, kind="openai_compatible", base_url=f"http://{host}:{world.upstream.port}/v1", models=["x-*"]
    )
    settings.ALLOW_PRIVATE_UPSTREAMS = False

    response = ask(world, "x-1")

    assert_address_refused(response)
    assert world.upstream.requests == []


def test_it_falls_back_past_a_refused_target(world, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    guarded(world, {"metadata-proxy.example": METADATA})
    refused = factories.make_provider(
        world.tenant, kind="openai_compatible", base_url="http://metadata-proxy.example/v1"
    )
    factories.make_alias(
        world.tenant,
        [
            {"provider_id": refused.id, "model": "gpt-4o-mini"},
            {"provider_id": world.provider.id, "model": "gpt-4o-mini"},
        ],
        alias="smart",
    )

    response = ask(world, "smart")

    assert response.status_code == 200
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).provider_id == world.provider.id


@pytest.fixture
def jwks_app(jwt_world, jwks):
    """The JWT app, with its JWKS URL on a made-up name the test resolves."""
    jwt_world.configure(jwks_url=f"http://idp.example:{jwks.server.port}/.well-known/jwks.json")
    return jwt_world


def test_it_fetches_jwks_only_from_an_allowed_address(world, jwks_app, jwks, settings):
    resolver = guarded(world, {"idp.example": "127.0.0.1"})

    settings.ALLOW_PRIVATE_UPSTREAMS = False
    refused = jwks_app.call(jwks_app.token())
    assert (refused.status_code, refused.json()["error"]["reason"]) == (502, "jwks_unavailable")
    assert jwks.fetches() == 0
    assert resolver.lookups == ["idp.example"]


def test_it_fetches_jwks_through_the_guard_when_allowed(world, jwks_app, jwks, settings):
    guarded(world, {"idp.example": "127.0.0.1"})
    settings.ALLOW_PRIVATE_UPSTREAMS = True

    assert jwks_app.call(jwks_app.token()).status_code == 200
    assert jwks.fetches() == 1


def test_it_never_fetches_jwks_from_a_metadata_address(world, jwks_app, jwks, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    resolver = guarded(world, {"idp.example": METADATA})

    response = jwks_app.call(jwks_app.token())

    assert (response.status_code, response.json()["error"]["reason"]) == (502, "jwks_unavailable")
    assert resolver.lookups == ["idp.example"]


def test_it_does_not_follow_a_jwks_redirect(world, jwks_app, jwks, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    guarded(world, {"idp.example": "127.0.0.1"})
    jwks.server.behaviour["/.well-known/jwks.json"] = lambda r: {"status": 302, "json": {}}

    response = jwks_app.call(jwks_app.token())

    assert (response.status_code, response.json()["error"]["reason"]) == (502, "jwks_unavailable")
