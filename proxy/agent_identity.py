"""``X-Agent-Identity`` (SPEC 3.10): the calling agent's identity, signed, on every upstream request.

An ES256 signature is the one cost here that cannot be cached (``jti`` and ``iat`` differ on
every request); everything else is. A stamp holds, per caller (agent, app, key, user, scopes,
issuer) under one key, the base64url of the JWS header and of the claims up to ``aud``, padded
with JSON blanks to a multiple of three bytes, so that a request's token is that cached prefix,
the base64url of ``"jti":…,"iat":…,"exp":…}`` and one ECDSA signature by ``cryptography``
(OpenSSL), turned from DER into JWS's fixed-width ``r || s`` by its own decoder.

Keys are the platform's (``identity.selectors.identity_keyring_load``). Their generation
(``proxy.config_generation.IDENTITY_KEYS_KEY``) is read from Redis together with each tenant's
configuration generation (``GenerationSource``, at most every ``CONFIG_CACHE_SECONDS``); a
moved one reloads the keys before the next signature. A process also reloads them in the
background every ``KEYRING_RELOAD_SECONDS``, which bounds the lag where Redis was not told.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import time
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from identity.identity_keys import (
    ALGORITHM,
    REQUEST_TOKEN_SECONDS,
    Keyring,
    SigningKey,
    identity_claims,
    identity_key_load,
    public_jwk,
)
from identity.selectors import identity_keyring_load
from proxy.config_cache import DatabaseRunner, GenerationSource
from proxy.config_snapshot import TenantConfig
from proxy.request_context import RequestContext

logger = logging.getLogger(__name__)
KEYRING_RELOAD_SECONDS = 60.0
MAX_STAMPS = 10_000
MAX_AUDIENCES = 64
# Built once: PyJWT's ECAlgorithm.sign builds these on every call, which costs a request
# about a tenth of what the signature itself does (docs/performance.md).
_ES256 = ec.ECDSA(hashes.SHA256())


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _jws_signature(der: bytes) -> bytes:
    """RFC 7518 3.4's ``r || s`` (32 bytes each) from OpenSSL's DER ``SEQUENCE {INTEGER r,
    INTEGER s}``: sliced rather than decoded to ints and back, a third of the cost. A P-256
    signature is at most 72 bytes, so every length is one byte; an INTEGER may carry a leading
    zero (r or s with the top bit set) or be shorter than 32 bytes."""
    r_end = 4 + der[3]
    s_start = r_end + 2
    return der[4:r_end][-32:].rjust(32, b"\0") + der[s_start : s_start + der[r_end + 1]][-32:].rjust(32, b"\0")


class IdentityStamp:
    """One caller's identity under one key; ``token`` signs it for one upstream request."""

    __slots__ = ("_claims", "_header", "_key", "_prefixes")

    def __init__(self, signing: SigningKey, claims: dict[str, Any]) -> None:
        self._key = signing.private_key
        self._header = _b64(orjson.dumps({"alg": ALGORITHM, "typ": "JWT", "kid": signing.kid})) + b"."
        self._claims = claims
        self._prefixes: dict[str, bytes] = {}

    def _prefix(self, audience: str) -> bytes:
        prefix = self._prefixes.get(audience)
        if prefix is None:
            opening = orjson.dumps({**self._claims, "aud": audience})[:-1] + b","
            # Blanks between JSON members are allowed: padded to whole base64 quanta, the
            # prefix's encoding is the start of the whole payload's encoding.
            opening += b" " * (-len(opening) % 3)
            prefix = self._header + _b64(opening)
            if len(self._prefixes) >= MAX_AUDIENCES:
                self._prefixes.clear()
            self._prefixes[audience] = prefix
        return prefix

    def token(self, audience: str, jti: str, now: float | None = None) -> str:
        iat = int(time.time() if now is None else now)
        closing = b'"jti":%b,"iat":%d,"exp":%d}' % (orjson.dumps(jti), iat, iat + REQUEST_TOKEN_SECONDS)
        signing_input = self._prefix(audience) + _b64(closing)
        return (signing_input + b"." + _b64(_jws_signature(self._key.sign(signing_input, _ES256)))).decode()


def _environment_keyring() -> Keyring:
    private_key = identity_key_load(settings.AGENT_IDENTITY_KEY)
    jwk = public_jwk(private_key)
    return Keyring(signing=SigningKey(jwk["kid"], private_key), published=(jwk,))


class AgentIdentitySigner:
    """Per process: the current signing key, and the stamps of recent callers."""

    def __init__(self, db: DatabaseRunner, generations: GenerationSource) -> None:
        self._db, self._generations = db, generations
        self._keyring: Keyring | None = None
        self._generation: int | None = None
        self._loaded = float("-inf")
        self._loading: asyncio.Task | None = None
        self._stamps: dict[tuple, IdentityStamp] = {}
        self._issuers: dict[tuple[str, str], str] = {}

    async def stamp(self, ctx: RequestContext, config: TenantConfig) -> IdentityStamp | None:
        """The caller's stamp, or None for a request without an agent (none reaches a provider)."""
        agent = ctx.agent
        if agent is None:
            return None
        signing = await self._signing_key()
        issuer = self._issuer(ctx)
        token = (
            signing.kid, issuer, config.tenant_id, agent.id, ctx.app_id, ctx.key_id, ctx.user, ctx.scopes,
            agent.fingerprint, agent.owner_email,
        )  # fmt: skip
        stamp = self._stamps.get(token)
        if stamp is None:
            claims = identity_claims(
                issuer=issuer,
                agent_id=agent.id,
                tenant_id=config.tenant_id,
                app_id=ctx.app_id,
                key_id=ctx.key_id,
                user=ctx.user,
                fingerprint=agent.fingerprint,
                owner=agent.owner_email,
                scopes=sorted(ctx.scopes),
            )
            stamp = IdentityStamp(signing, claims)
            if len(self._stamps) >= MAX_STAMPS:
                self._stamps.clear()
            self._stamps[token] = stamp
        return stamp

    def _issuer(self, ctx: RequestContext) -> str:
        if settings.AGENT_IDENTITY_ISSUER:
            return settings.AGENT_IDENTITY_ISSUER
        host = ctx.headers.get("host", "")
        issuer = self._issuers.get((ctx.scheme, host))
        if issuer is None:
            # The Host header is the client's: only a host the deployment serves names the issuer.
            domain, _port = split_domain_port(host.lower())
            if domain and validate_host(domain, settings.ALLOWED_HOSTS):
                issuer = f"{ctx.scheme}://{host.lower()}"
            else:
                named = [h for h in settings.ALLOWED_HOSTS if h not in {"*", ""} and not h.startswith(".")]
                issuer = f"{ctx.scheme}://{named[0]}" if named else f"{ctx.scheme}://localhost"
            if len(self._issuers) >= 256:
                self._issuers.clear()
            self._issuers[(ctx.scheme, host)] = issuer
        return issuer

    async def _signing_key(self) -> SigningKey:
        # The generation was read (at most CONFIG_CACHE_SECONDS ago) when the caller's tenant was.
        generation = self._generations.identity_keys()
        keyring = self._keyring
        if keyring is None or generation != self._generation:
            await self._reload(generation)
            keyring = self._keyring
            if keyring is None:  # _load always leaves one
                raise RuntimeError("no agent identity keyring loaded")
        elif time.monotonic() - self._loaded >= KEYRING_RELOAD_SECONDS and self._loading is None:
            # Off the request: a key change Redis was not told of arrives within this bound.
            self._loading = asyncio.get_running_loop().create_task(self._load(self._generation))
        return keyring.signing

    async def _reload(self, generation: int) -> None:
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._load(generation))
        await asyncio.shield(self._loading)

    async def _load(self, generation: int | None) -> None:
        try:
            keyring = await self._db.run(identity_keyring_load)
        except Exception:
            logger.warning("agent identity keys unreadable; signing with the key in use")
            keyring = self._keyring or _environment_keyring()
        else:
            self._generation = generation
        self._keyring = keyring
        self._loaded = time.monotonic()
        self._loading = None
