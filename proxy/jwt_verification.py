"""JWT authentication of proxy requests in an app context (SPEC 3.3).

Keys come from the app's one source: a JWKS URL (fetched with aiohttp through the SSRF
guard's resolver, cached, refetched on an unknown ``kid`` at most once every 10 seconds per
app and process), a static JWKS document, or one PEM public key. Only asymmetric algorithms are
ever accepted, each only with a key of its own type. Verified tokens are cached by digest
until — never past — their ``exp``.

Every cache here is keyed by content: URL keys by app id and URL, static keys and verified
tokens by the digest of the app's settings (``AppEntry.jwt_digest``), never by ``id()`` of a
settings object, which CPython hands to the next object allocated at the same address.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import orjson
from aiohttp.abc import AbstractResolver
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings as django_settings
from jwt import PyJWK, PyJWKSet

from apps.jwt_settings import ASYMMETRIC_ALGORITHMS
from core.errors import GatewayError, forbidden, unauthorized
from core.upstream_guard import GuardedResolver, UpstreamAddressRefused, url_literal_refusal
from core.validation import is_email
from proxy.config_snapshot import AgentEntry, AppEntry
from proxy.end_user import domain_check
from proxy.request_context import RequestContext

logger = logging.getLogger(__name__)
REFETCH_INTERVAL_SECONDS = 10.0
JWKS_TIMEOUT_SECONDS = 5.0
MAX_JWKS_BYTES = 1024 * 1024
MAX_CACHED_TOKENS = 50_000
# Static key sets are keyed by settings digest: a churn of settings must not grow memory.
MAX_CACHED_KEY_SETS = 4096
DEFAULT_USER_CLAIMS = ("email_id", "email", "sub", "uid")
EMAIL_CLAIMS = ("email_id", "email")
# The key type each algorithm family verifies with, and the curve of each ES algorithm.
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "RS": (rsa.RSAPublicKey,),
    "PS": (rsa.RSAPublicKey,),
    "ES": (ec.EllipticCurvePublicKey,),
    "Ed": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}
CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


class JwksUnavailable(Exception):
    pass


def jwks_unavailable() -> GatewayError:
    return GatewayError(502, "upstream_error", "the identity provider's keys cannot be fetched", "jwks_unavailable")


class JwksUrlKeys:
    """The keys behind one app's JWKS URL, as this process last fetched them.

    The fetch goes through the SSRF guard exactly like a provider call: an IP-literal URL is
    checked as written, a host name after resolution, for the address actually connected
    to; redirects are not followed (their target would escape the check of an IP literal).
    ``resolver`` replaces only the lookup under the guard (tests map names with it).
    """

    def __init__(self, url: str, resolver: AbstractResolver | None = None) -> None:
        self._url = url
        self._resolver = resolver
        self._keys: dict[str | None, PyJWK] = {}
        self._last_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str | None) -> PyJWK | None:
        if (key := self._lookup(kid)) is not None:
            return key
        async with self._lock:
            if (key := self._lookup(kid)) is not None:
                return key
            if time.monotonic() - self._last_fetch < REFETCH_INTERVAL_SECONDS:
                if not self._keys:
                    raise JwksUnavailable
                return None
            self._last_fetch = time.monotonic()
            self.fetches += 1
            try:
                jwk_set = await self._fetch()
            except (aiohttp.ClientError, jwt.PyJWKSetError, OSError, ValueError) as exc:
                logger.warning("JWKS fetch failed: %s", type(exc).__name__)
                if not self._keys:
                    raise JwksUnavailable from exc
                return None
            self._keys = _usable_keys(jwk_set)
            return self._lookup(kid)

    async def _fetch(self) -> PyJWKSet:
        refusal = url_literal_refusal(self._url, allow_private=django_settings.ALLOW_PRIVATE_UPSTREAMS)
        if refusal is not None:
            raise UpstreamAddressRefused(refusal)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._resolver), use_dns_cache=False)
        timeout = aiohttp.ClientTimeout(total=JWKS_TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session,
            session.get(self._url, allow_redirects=False, headers={"Accept": "application/json"}) as response,
        ):
            if response.status != 200:
                raise ValueError(f"the JWKS URL answered {response.status}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_JWKS_BYTES:
                    raise ValueError("the JWKS document is too large")
                chunks.append(chunk)
        document = orjson.loads(b"".join(chunks))
        if not isinstance(document, dict):
            raise ValueError("the JWKS document is not a JSON object")
        return PyJWKSet.from_dict(document)

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)


def _usable_keys(jwk_set: PyJWKSet) -> dict[str | None, PyJWK]:
    return {k.key_id: k for k in jwk_set.keys if k.public_key_use in (None, "sig")}


def static_keys_load(settings: dict[str, Any]) -> dict[str | None, Any]:
    """The public keys of a ``jwks_json`` or ``public_key_pem`` source, by ``kid`` (PEM: None).

    Settings are validated on write; a stored value that no longer loads (an older library,
    a row written by hand) gives no keys, so its tokens are refused with a 401, not a 500.
    """
    try:
        if "jwks_json" in settings:
            document = settings["jwks_json"]
            if isinstance(document, str):
                document = json.loads(document)
            return {kid: jwk.key for kid, jwk in _usable_keys(PyJWKSet.from_dict(document)).items()}
        return {None: load_pem_public_key(settings["public_key_pem"].encode())}
    except (jwt.PyJWTError, UnsupportedAlgorithm, ValueError, TypeError, AttributeError) as exc:
        logger.warning("an app's static JWT keys cannot be loaded: %s", type(exc).__name__)
        return {}


def algorithm_fits_key(algorithm: str, key: Any) -> bool:
    """Whether a token signed with ``algorithm`` can be checked with ``key`` at all.

    Asked before PyJWT sees the pair, which answers a mismatch (an RS256 token against an EC
    key, ES256 against RSA, a P-384 key for ES256) with a TypeError or InvalidKeyError.
    """
    types = KEY_TYPES.get(algorithm[:2])
    if types is None or not isinstance(key, types):
        return False
    curve = CURVES.get(algorithm)
    return curve is None or key.curve.name == curve


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    # What the verification depended on besides the token: a cached answer is reused only
    # while the app's settings and scope prefix are still these.
    settings_digest: str | None
    scope_prefix: str
    expires_at: float
    user: str | None
    email: str | None
    scopes: frozenset[str]
    # What a revocation can name (SPEC 3.3): checked on every request, cached or not.
    jti: str | None = None
    subject: str | None = None
    issued_at: float | None = None


class TokenVerifier:
    """Per-process JWT verification state: fetched key sets and verified tokens."""

    def __init__(self, resolver: AbstractResolver | None = None) -> None:
        self._resolver = resolver
        self._url_keys: dict[tuple[str, str], JwksUrlKeys] = {}
        self._static_keys: dict[str | None, dict[str | None, Any]] = {}
        self._verified: dict[tuple[str, str], VerifiedToken] = {}

    def url_keys(self, app: AppEntry) -> JwksUrlKeys:
        token = (app.id, app.jwt["jwks_url"])
        keys = self._url_keys.get(token)
        if keys is None:
            keys = self._url_keys[token] = JwksUrlKeys(app.jwt["jwks_url"], self._resolver)
        return keys

    def _static(self, app: AppEntry) -> dict[str | None, Any]:
        keys = self._static_keys.get(app.jwt_digest)
        if keys is None:
            keys = static_keys_load(app.jwt)
            if len(self._static_keys) >= MAX_CACHED_KEY_SETS:
                self._static_keys.clear()
            self._static_keys[app.jwt_digest] = keys
        return keys

    async def _key(self, app: AppEntry, kid: str | None) -> Any:
        if "jwks_url" in app.jwt:
            try:
                key = await self.url_keys(app).key_for(kid)
            except JwksUnavailable:
                raise jwks_unavailable() from None
            return key.key if key is not None else None
        keys = self._static(app)
        if kid is not None and kid in keys:
            return keys[kid]
        if len(keys) == 1:
            return next(iter(keys.values()))
        return None

    async def token_key(self, app: AppEntry, token: str) -> tuple[str, Any]:
        """The token's algorithm and the app's key that checks it: shape, algorithm, ``kid``,
        and whether the two fit (``401 invalid_token`` otherwise)."""
        algorithms = [a for a in app.jwt.get("algorithms", ["RS256"]) if a in ASYMMETRIC_ALGORITHMS]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise unauthorized("invalid_token", "the token is malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in algorithms:
            raise unauthorized("invalid_token", "the token's algorithm is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise unauthorized("invalid_token", "the token's kid is malformed")
        key = await self._key(app, kid)
        if key is None:
            raise unauthorized("invalid_token", "no key matches the token's kid")
        if not algorithm_fits_key(algorithm, key):
            raise unauthorized("invalid_token", "the token's algorithm does not fit the key")
        return algorithm, key

    async def verify(self, app: AppEntry, token: str) -> VerifiedToken:
        cache_key = (app.id, hashlib.sha256(token.encode()).hexdigest())
        cached = self._verified.get(cache_key)
        if (
            cached is not None
            and cached.settings_digest == app.jwt_digest
            and cached.scope_prefix == app.scope_prefix
            and time.time() < cached.expires_at
        ):
            return cached
        algorithm, key = await self.token_key(app, token)
        claims = _decode(token, key, [algorithm], app.jwt)
        verified = verified_token_of(app, claims)
        if len(self._verified) > MAX_CACHED_TOKENS:
            self._verified.clear()
        self._verified[cache_key] = verified
        return verified


def verified_token_of(app: AppEntry, claims: dict[str, Any]) -> VerifiedToken:
    """What the proxy keeps of a token whose every check passed."""
    settings = app.jwt
    return VerifiedToken(
        settings_digest=app.jwt_digest,
        scope_prefix=app.scope_prefix,
        expires_at=float(claims["exp"]),
        user=_user_of(claims, settings),
        email=_email_of(claims, settings),
        scopes=_scopes_of(claims, settings, app.scope_prefix),
        jti=_str_claim(claims, "jti"),
        subject=_str_claim(claims, "sub"),
        issued_at=float(claims["iat"]) if isinstance(claims.get("iat"), int | float) else None,
    )


# The checks of a token's claims after its signature, each its own rule; the proxy runs them
# all in one decode, the console's token check one at a time to say which one fails.
CLAIM_CHECKS = ("exp", "nbf", "iat", "iss", "aud", "required_claims")


def _decode(
    token: str, key: Any, algorithms: list[str], settings: dict[str, Any], checks: tuple[str, ...] = CLAIM_CHECKS
) -> dict[str, Any]:
    required_claims = settings.get("required_claims") or []
    # A list names claims that must be present; an object's names must be present too.
    required = [*(["exp"] if "exp" in checks else []), *(required_claims if "required_claims" in checks else [])]
    options = {
        "require": required,
        "verify_exp": "exp" in checks,
        "verify_nbf": "nbf" in checks,
        "verify_iat": "iat" in checks,
        "verify_iss": "iss" in checks,
        "verify_aud": "aud" in checks and "audience" in settings,
    }
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=algorithms,
            audience=settings.get("audience") if "aud" in checks else None,
            issuer=settings.get("issuer") if "iss" in checks else None,
            leeway=settings.get("leeway_seconds", 30),
            options=options,
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("token_expired", "the token has expired") from None
    except (
        jwt.MissingRequiredClaimError,
        jwt.InvalidIssuerError,
        jwt.InvalidAudienceError,
        jwt.ImmatureSignatureError,
        jwt.InvalidIssuedAtError,
    ) as exc:
        raise unauthorized("invalid_claims", f"the token's claims are not accepted: {exc}") from None
    # PyJWTError also covers InvalidKeyError, which is no InvalidTokenError; ValueError and
    # TypeError are what PyJWT and cryptography raise for other pairs of token and key.
    except (jwt.PyJWTError, ValueError, TypeError):
        raise unauthorized("invalid_token", "the token is not valid") from None
    if "exp" in checks and not isinstance(claims.get("exp"), int | float):
        raise unauthorized("invalid_claims", "the token has no valid exp")
    if "required_claims" in checks and isinstance(required_claims, dict):
        required_claim_values_check(claims, required_claims)
    return claims


def required_claim_values_check(claims: dict[str, Any], required: dict[str, list]) -> None:
    """Each claim named must equal one of its values; an array claim must contain one."""
    for name, values in required.items():
        actual = claims.get(name)
        candidates = actual if isinstance(actual, list) else [actual]
        if not any(_claim_equals(a, v) for a in candidates for v in values):
            raise unauthorized("invalid_claims", f"the token's {name[:60]!r} claim has no accepted value")


def _claim_equals(actual: Any, expected: Any) -> bool:
    # JSON's true is no 1 and "1" is no 1: a binding to an organisation compares exactly.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, str) != isinstance(expected, str):
        return False
    return actual == expected


def _str_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _user_of(claims: dict[str, Any], settings: dict[str, Any]) -> str | None:
    for name in (*settings.get("user_claims", ()), *DEFAULT_USER_CLAIMS):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value[:320]
    return None


def _email_of(claims: dict[str, Any], settings: dict[str, Any]) -> str | None:
    """``email_id`` or ``email``; else a configured user claim holding an email (Entra's upn)."""
    for name in (*EMAIL_CLAIMS, *settings.get("user_claims", ())):
        value = claims.get(name)
        if isinstance(value, str) and is_email(value):
            return value.lower()
    return None


def _scopes_of(claims: dict[str, Any], settings: dict[str, Any], prefix: str) -> frozenset[str]:
    """The token's scopes, renamed by ``scope_map``, with the app's ``scope_prefix`` taken off."""
    scopes: set[str] = set()
    for name in (*settings.get("scope_claims", ()), "scope", "scopes"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(v for v in value if isinstance(v, str))
    scope_map = settings.get("scope_map")
    if scope_map:
        scopes = {scope_map.get(s, s) for s in scopes}
    if prefix:
        scopes.update(s[len(prefix) :] for s in list(scopes) if s.startswith(prefix))
    return frozenset(scopes)


def token_revocation_check(app: AppEntry, verified: VerifiedToken) -> None:
    """After the verified-token cache, on every request: the app's revocations come with its
    snapshot, which every revocation write renews on every process (SPEC 3.3)."""
    revocations = app.jwt_revocations
    if revocations is None:
        return
    if verified.jti is not None and verified.jti in revocations.jtis:
        raise unauthorized("token_revoked", "the token has been revoked")
    if verified.subject is not None:
        revoked_at = revocations.subjects.get(verified.subject)
        # A token without iat counts as issued before the revocation.
        if revoked_at is not None and (verified.issued_at is None or verified.issued_at <= revoked_at):
            raise unauthorized("token_revoked", "the token's subject has been revoked")


async def jwt_authenticate(
    ctx: RequestContext, verifier: TokenVerifier, agent: AgentEntry | None, app: AppEntry, token: str
) -> None:
    """Verify ``token`` for ``app`` and fill the request's agent (``agent``: the one the app's
    tokens act as, None when the tenant has none by that id), user and scopes."""
    verified = await verifier.verify(app, token)
    token_revocation_check(app, verified)
    agent_id = app.jwt["agent_id"]
    ctx.agent_id, ctx.key_id, ctx.credential = agent_id, None, "jwt"
    if agent is None or not agent.active:
        raise forbidden("agent_suspended", "the agent that this app's tokens act as is suspended")
    ctx.agent = agent
    ctx.user, ctx.user_email = verified.user, verified.email
    ctx.identity_source = "jwt" if verified.user else None
    ctx.scopes = verified.scopes


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """One check of a token as the proxy runs it: passed, failed (with the proxy's answer),
    or not run (``passed`` None) because an earlier one failed."""

    name: str
    passed: bool | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TokenInspection:
    header: dict[str, Any] | None
    # Decoded without verification: shown even when the signature fails.
    claims: dict[str, Any] | None
    checks: tuple[TokenCheck, ...]
    verified: VerifiedToken | None

    @property
    def accepted(self) -> bool:
        return all(check.passed for check in self.checks)


CHECK_LABELS = {
    "exp": "expiry (exp, required)",
    "nbf": "not before (nbf)",
    "iat": "issued at (iat)",
    "iss": "issuer (iss)",
    "aud": "audience (aud)",
    "required_claims": "required claims",
}


async def token_inspect(verifier: TokenVerifier, app: AppEntry, token: str) -> TokenInspection:
    """Every check the proxy makes of ``token`` for ``app``, one by one, through the same
    functions; for the console's token check. Never caches the token."""
    checks: list[TokenCheck] = []

    def failed(name: str, error: GatewayError) -> None:
        checks.append(TokenCheck(name, False, f"{error.status} {error.reason}: {error.message}"))

    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        checks.append(TokenCheck("shape", False, "401 invalid_token: not a JWT (three base64url parts of JSON)"))
        return TokenInspection(None, None, tuple(checks), None)
    checks.append(TokenCheck("shape", True))
    try:
        algorithm, key = await verifier.token_key(app, token)
    except GatewayError as error:
        failed("algorithm and key", error)
        return TokenInspection(header, claims, _not_run(checks), None)
    checks.append(TokenCheck("algorithm and key", True, f"{algorithm}, kid {header.get('kid') or '(none)'}"))
    try:
        _decode(token, key, [algorithm], app.jwt, checks=())
    except GatewayError as error:
        failed("signature", error)
        return TokenInspection(header, claims, _not_run(checks), None)
    checks.append(TokenCheck("signature", True))
    for name in CLAIM_CHECKS:
        try:
            _decode(token, key, [algorithm], app.jwt, checks=(name,))
        except GatewayError as error:
            failed(name, error)
        else:
            checks.append(TokenCheck(name, True))
    if not all(check.passed for check in checks):
        return TokenInspection(header, claims, _not_run(checks), None)
    verified = verified_token_of(app, claims)
    try:
        token_revocation_check(app, verified)
    except GatewayError as error:
        failed("revocation", error)
    else:
        checks.append(TokenCheck("revocation", True, "not revoked"))
    try:
        domain_check(verified.email, app.allowed_user_domains)
    except GatewayError as error:
        failed("email domain", error)
    else:
        checks.append(TokenCheck("email domain", True, verified.email or "no email; no domain list applies"))
    return TokenInspection(header, claims, tuple(checks), verified)


def _not_run(checks: list[TokenCheck]) -> tuple[TokenCheck, ...]:
    done = {check.name for check in checks}
    later = [name for name in (*CLAIM_CHECKS, "revocation", "email domain") if name not in done]
    return (*checks, *(TokenCheck(name, None, "not run: an earlier check failed") for name in later))
