"""Validation of an app's JWT verifier settings (SPEC 3.3), run on every write."""

from __future__ import annotations

import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.core.exceptions import ValidationError

from core.upstream_guard import url_clean
from core.validation import GATEWAY_SCOPES
from identity.models import Agent

ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
KEY_SOURCES = ("jwks_url", "jwks_json", "public_key_pem")
FIELDS = {
    *KEY_SOURCES,
    "agent_id",
    "algorithms",
    "issuer",
    "audience",
    "required_claims",
    "leeway_seconds",
    "user_claims",
    "scope_claims",
    "scope_map",
}
MAX_CLAIM_VALUES = 100


def _fail(message: str) -> ValidationError:
    return ValidationError({"jwt": message})


def jwks_json_clean(value: Any) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _fail("jwks_json is not valid JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise _fail("jwks_json must be a JWKS object with a non-empty 'keys' list")
    try:
        jwk_set = jwt.PyJWKSet.from_dict(value)
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise _fail(f"jwks_json holds no usable key: {exc}") from exc
    for key in value["keys"]:
        if isinstance(key, dict) and ("d" in key or key.get("kty") == "oct"):
            raise _fail("jwks_json must hold public keys only (a private or symmetric key was pasted)")
    if not jwk_set.keys:
        raise _fail("jwks_json holds no usable key")
    return value


def public_key_pem_clean(value: Any) -> str:
    if not isinstance(value, str) or "-----BEGIN" not in value:
        raise _fail("public_key_pem must be a PEM public key")
    if "PRIVATE KEY" in value:
        raise _fail("public_key_pem holds a private key; paste the public key only")
    try:
        key = load_pem_public_key(value.strip().encode())
    except (ValueError, TypeError) as exc:
        raise _fail("public_key_pem is not a valid PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise _fail("public_key_pem must be an RSA, EC or Ed25519 public key")
    return value.strip() + "\n"


def _str_list(value: Any, name: str, *, allow_empty: bool = True) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(f"{name} must be a list of strings")
    if not value and not allow_empty:
        raise _fail(f"{name} must not be empty")
    return value


def _claim_value_ok(value: Any) -> bool:
    # Strings, numbers and booleans compare exactly; null, objects and lists name nothing.
    return isinstance(value, str | int | float | bool) and value != ""


def required_claims_clean(value: Any) -> list[str] | dict[str, list]:
    """A list of claim names that must be present, or ``{claim: value | [values]}`` whose
    claim must equal one of the values (an array claim: contain one). Values are kept as lists."""
    if isinstance(value, list):
        return _str_list(value, "required_claims")
    if not isinstance(value, dict):
        raise _fail("required_claims must be a list of claim names or an object {claim: value | [values]}")
    cleaned: dict[str, list] = {}
    for name, expected in value.items():
        if not name:
            raise _fail("required_claims names must be non-empty strings")
        values = expected if isinstance(expected, list) else [expected]
        if not values or len(values) > MAX_CLAIM_VALUES or not all(_claim_value_ok(v) for v in values):
            raise _fail(
                f"required_claims[{name[:40]!r}] must be a string, number or boolean, or a non-empty list of them"
            )
        cleaned[name] = values
    return cleaned


def scope_map_clean(value: Any) -> dict[str, str]:
    """``{token scope: gateway scope}``; every target must be a gateway scope."""
    if not isinstance(value, dict):
        raise _fail("scope_map must be an object {token scope: gateway scope}")
    for name, target in value.items():
        if not name or any(c.isspace() for c in name):
            raise _fail("scope_map keys must be non-empty scope names without spaces")
        if target not in GATEWAY_SCOPES:
            raise _fail(f"scope_map[{name[:40]!r}] must be one of {', '.join(GATEWAY_SCOPES)}")
    return dict(value)


def jwt_settings_clean(value: Any, *, tenant_id: str | None) -> dict | None:
    """Normalise and validate; ``agent_id`` must name an agent of the same tenant."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail("jwt must be an object or null")
    unknown = set(value) - FIELDS
    if unknown:
        raise _fail(f"unknown jwt fields: {', '.join(sorted(unknown))}")
    sources = [s for s in KEY_SOURCES if value.get(s) not in (None, "")]
    if len(sources) != 1:
        raise _fail("exactly one of jwks_url, jwks_json, public_key_pem is required")
    cleaned: dict[str, Any] = {}
    source = sources[0]
    if source == "jwks_url":
        cleaned["jwks_url"] = url_clean(value["jwks_url"], field="jwt")
    elif source == "jwks_json":
        cleaned["jwks_json"] = jwks_json_clean(value["jwks_json"])
    else:
        cleaned["public_key_pem"] = public_key_pem_clean(value["public_key_pem"])

    algorithms = _str_list(value.get("algorithms", ["RS256"]), "algorithms", allow_empty=False)
    for alg in algorithms:
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise _fail(f"algorithm {alg[:20]!r} is refused; allowed: {', '.join(ASYMMETRIC_ALGORITHMS)}")
    cleaned["algorithms"] = algorithms

    agent_id = value.get("agent_id")
    if not isinstance(agent_id, str) or not agent_id:
        raise _fail("agent_id is required: the agent that JWT requests act as")
    if tenant_id is None or not Agent.objects.for_tenant(tenant_id).filter(id=agent_id, deleted_at=None).exists():
        raise _fail("agent_id names no agent of this tenant")
    cleaned["agent_id"] = agent_id

    for name in ("issuer",):
        if value.get(name) is not None:
            if not isinstance(value[name], str) or not value[name]:
                raise _fail(f"{name} must be a non-empty string")
            cleaned[name] = value[name]
    audience = value.get("audience")
    if audience is not None:
        if isinstance(audience, str) and audience:
            cleaned["audience"] = audience
        else:
            cleaned["audience"] = _str_list(audience, "audience", allow_empty=False)
    for name in ("user_claims", "scope_claims"):
        if value.get(name) is not None:
            cleaned[name] = _str_list(value[name], name)
    if value.get("required_claims") is not None:
        cleaned["required_claims"] = required_claims_clean(value["required_claims"])
    if value.get("scope_map") is not None:
        cleaned["scope_map"] = scope_map_clean(value["scope_map"])
    leeway = value.get("leeway_seconds", 30)
    if not isinstance(leeway, int) or isinstance(leeway, bool) or not 0 <= leeway <= 3600:
        raise _fail("leeway_seconds must be an integer from 0 to 3600")
    cleaned["leeway_seconds"] = leeway
    return cleaned
