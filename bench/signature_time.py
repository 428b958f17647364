"""CPU one ``X-Agent-Identity`` token takes (``IdentityStamp.token``, SPEC 3.10), timed in a
loop on a fresh P-256 key: the signing phase of ``make bench`` sets it beside the A/B rounds.

Run with the gateway's environment (``python -m bench.signature_time``); prints one JSON object.
"""

from __future__ import annotations

import json
import time

import django

django.setup()

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from identity.identity_keys import SigningKey, public_jwk  # noqa: E402
from proxy.agent_identity import IdentityStamp  # noqa: E402

CLAIMS = {
    "iss": "http://127.0.0.1:18080",
    "sub": "ag_0123456789abcdef",
    "tenant": "tn_0123456789abcdef",
    "app": "app_0123456789abcdef",
    "key": "key_0123456789abcdef",
    "user": "bench-user@example.com",
    "fingerprint": "f" * 64,
    "owner": "owner@example.com",
    "scope": ["chat", "embeddings"],
}


def token_seconds(count: int = 5000) -> float:
    private_key = ec.generate_private_key(ec.SECP256R1())
    stamp = IdentityStamp(SigningKey(public_jwk(private_key)["kid"], private_key), CLAIMS)
    stamp.token("prv_0123456789abcdef", "req_warm")
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for n in range(count):
            stamp.token("prv_0123456789abcdef", f"req_{n:020d}")
        best = min(best, (time.process_time() - started) / count)
    return best


if __name__ == "__main__":
    print(json.dumps({"token_us": token_seconds() * 1e6}))
