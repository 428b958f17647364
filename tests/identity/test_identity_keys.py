"""The agent identity keys (SPEC 3.10): the initial key from the environment, rotation, the
day a retired key stays published, storage at rest; and the hot path's token assembly."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings
from django.utils import timezone

from core.crypto import decrypt_secret
from identity.identity_keys import SigningKey, identity_key_load, public_jwk
from identity.models import IdentityKey
from identity.selectors import identity_jwks, identity_keyring_load
from identity.services import identity_key_rotate
from proxy.agent_identity import IdentityStamp, _jws_signature

pytestmark = pytest.mark.django_db


def environment_kid() -> str:
    return public_jwk(identity_key_load(settings.AGENT_IDENTITY_KEY))["kid"]


def test_it_signs_with_the_environments_key_until_the_first_rotation():
    keyring = identity_keyring_load()

    assert keyring.signing.kid == environment_kid()
    assert [jwk["kid"] for jwk in keyring.published] == [environment_kid()]


def test_the_first_rotation_keeps_the_environments_key_published_beside_the_new_one():
    new = identity_key_rotate()

    keyring = identity_keyring_load()
    assert keyring.signing.kid == new.kid != environment_kid()
    assert [jwk["kid"] for jwk in keyring.published] == [new.kid, environment_kid()]


def test_a_retired_key_is_published_for_24_hours_and_no_longer():
    identity_key_rotate()
    second = identity_key_rotate()
    first_retired = IdentityKey.objects.exclude(kid__in=[second.kid, environment_kid()]).get()
    now = timezone.now()

    within = identity_keyring_load(now=now + timedelta(hours=23, minutes=59))
    after = identity_keyring_load(now=now + timedelta(hours=24, seconds=1))

    assert first_retired.kid in {jwk["kid"] for jwk in within.published}
    assert [jwk["kid"] for jwk in after.published] == [second.kid]
    assert after.signing.kid == second.kid


def test_it_stores_private_keys_encrypted():
    key = identity_key_rotate()

    assert "PRIVATE KEY" not in key.private_key_encrypted
    assert public_jwk(identity_key_load(decrypt_secret(key.private_key_encrypted)))["kid"] == key.kid
    assert "d" not in key.public_jwk


def test_it_falls_back_to_the_environments_key_when_the_database_holds_no_signing_key():
    identity_key_rotate()
    IdentityKey.objects.update(retired_at=timezone.now())

    assert identity_keyring_load().signing.kid == environment_kid()


@pytest.mark.parametrize("owner", ["", "a@b.co", "ab@b.co", "abc@b.co"])
def test_a_stamped_token_verifies_whatever_the_length_of_its_cached_prefix(owner):
    """The cached prefix is padded to whole base64 quanta: each remainder must give a valid JWS."""
    private_key = identity_key_load(settings.AGENT_IDENTITY_KEY)
    jwk = public_jwk(private_key)
    claims = {"iss": "https://gw", "sub": "ag_1", "owner": owner or None, "scope": ["chat"]}
    stamp = IdentityStamp(SigningKey(jwk["kid"], private_key), claims)

    token = stamp.token("prv_1", "req_abc", now=1_700_000_000)

    decoded = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience="prv_1", options={"verify_exp": False}
    )
    assert decoded == {**claims, "aud": "prv_1", "jti": "req_abc", "iat": 1_700_000_000, "exp": 1_700_000_300}
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "typ": "JWT", "kid": jwk["kid"]}


@pytest.mark.parametrize("rotations", [0, 1, 2])
def test_the_published_key_set_is_the_keyrings_without_reading_a_private_key(rotations):
    for _ in range(rotations):
        identity_key_rotate()

    jwks = identity_jwks()

    assert jwks == identity_keyring_load().jwks()
    assert all("d" not in jwk for jwk in jwks["keys"])


# Every shape OpenSSL's DER can take: a leading zero (top bit set), a short INTEGER, and both.
SIGNATURE_SHAPES = [
    (2**256 - 2**200, 2**255 + 7),
    (1, 2**256 - 1),
    (2**247 + 3, 2**200 + 5),
    (255, 2**255),
]


@pytest.mark.parametrize(("r", "s"), SIGNATURE_SHAPES)
def test_the_jws_signature_is_r_and_s_in_32_bytes_each_whatever_their_der_length(r, s):
    der = encode_dss_signature(r, s)

    assert _jws_signature(der) == r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_a_thousand_stamped_tokens_all_verify():
    """About one signature in 128 has a short r or s: a thousand meet several of them."""
    private_key = identity_key_load(settings.AGENT_IDENTITY_KEY)
    jwk = public_jwk(private_key)
    stamp = IdentityStamp(SigningKey(jwk["kid"], private_key), {"iss": "https://gw", "sub": "ag_1"})
    public = jwt.PyJWK(jwk).key

    for n in range(1000):
        token = stamp.token("prv_1", f"req_{n}", now=1_700_000_000)
        assert jwt.decode(token, public, algorithms=["ES256"], audience="prv_1", options={"verify_exp": False})
