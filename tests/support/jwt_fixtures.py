"""Keys, a JWKS server and a JWT-enabled app, for the identity and policy tests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from apps.services import app_update
from core.actors import SYSTEM
from tests import factories
from tests.support.servers import FakeUpstream


@dataclass
class SigningKey:
    kid: str
    private: Any
    alg: str = "RS256"

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, ec.generate_private_key(ec.SECP256R1()), alg="ES256")

    def jwk(self) -> dict:
        algorithm = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, claims: dict, *, kid: str | None = "default", headers: dict | None = None) -> str:
        now = int(time.time())
        body = {"exp": now + 300, "iat": now, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        extra = {"kid": self.kid if kid == "default" else kid} if kid is not None else {}
        return jwt.encode(body, self.private, algorithm=self.alg, headers={**extra, **(headers or {})})


@dataclass
class JwksServer:
    server: FakeUpstream
    keys: list[SigningKey] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url + "/.well-known/jwks.json"

    def fetches(self) -> int:
        return sum(1 for r in self.server.requests if r.path == "/.well-known/jwks.json")


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey.rsa("key-1")


@pytest.fixture
def jwks(signing_key):
    served = JwksServer(FakeUpstream().start(), [signing_key])
    served.server.behaviour["/.well-known/jwks.json"] = lambda r: {"json": {"keys": [k.jwk() for k in served.keys]}}
    yield served
    served.server.stop()


@dataclass
class JwtWorld:
    world: Any
    app: Any
    agent: Any
    key: SigningKey

    def configure(self, **jwt_settings: Any) -> None:
        settings = {"agent_id": self.agent.id, **jwt_settings}
        app_update(app=self.app, actor=SYSTEM, data={"jwt": settings})

    def call(self, token: str | None, *, path: str | None = None, headers: dict | None = None, model: str = "mock-1"):
        headers = dict(headers or {})
        if token is not None:
            headers.setdefault("X-API-Key", token)
        with self.world.http(**headers) as client:
            return client.post(path or f"/apps/{self.app.slug}/v1/chat/completions", json={
                "model": model, "messages": [{"role": "user", "content": "Hi"}],
            })  # fmt: skip

    def token(self, **claims: Any) -> str:
        claims.setdefault("sub", "user-123")
        claims.setdefault("scope", "chat:completions models:read")
        return self.key.sign(claims)


@pytest.fixture
def jwt_world(world, jwks, signing_key) -> JwtWorld:
    """The proxy world plus a JWT app whose tokens act as a dedicated agent."""
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    agent = factories.make_agent(world.tenant, name="browser-agent")
    app = factories.make_app(world.tenant, slug="web")
    jw = JwtWorld(world, app, agent, signing_key)
    jw.configure(jwks_url=jwks.url)
    return jw
