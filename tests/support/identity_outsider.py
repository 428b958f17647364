"""A provider's view of ``X-Agent-Identity`` (SPEC 3.10): it trusts nothing but the gateway's
published keys, fetched over HTTP, and checks tokens with PyJWT alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt

CLAIMS = ["iss", "sub", "tenant", "app", "key", "user", "fingerprint", "owner", "scope", "aud", "jti", "iat", "exp"]


def identity_header(headers: dict[str, str]) -> str | None:
    return next((value for name, value in headers.items() if name.lower() == "x-agent-identity"), None)


@dataclass
class Outsider:
    """Verifies tokens against ``{gateway}/.well-known/jwks.json``; keeps what it verified."""

    gateway_url: str
    verified: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def verify(self, token: str, audience: str | None = None) -> dict[str, Any]:
        # A fresh client each time: no key outlives what the gateway publishes now.
        keys = jwt.PyJWKClient(f"{self.gateway_url}/.well-known/jwks.json", cache_jwk_set=False)
        signing_key = keys.get_signing_key_from_jwt(token)
        options = {"require": ["iss", "sub", "iat", "exp"], "verify_aud": audience is not None}
        return jwt.decode(token, signing_key, algorithms=["ES256"], audience=audience, options=options)

    def check(self, headers: dict[str, str], audience: str) -> None:
        """Called from the fake upstream's handler, as a provider would on every request."""
        token = identity_header(headers)
        if token is None:
            self.failures.append("no X-Agent-Identity")
            return
        try:
            claims = self.verify(token, audience)
        except Exception as exc:  # the test reads the failure, the upstream answers anyway
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        self.verified.append({"claims": claims, "header": jwt.get_unverified_header(token), "token": token})
