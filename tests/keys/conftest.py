"""Fixtures of the key tests."""

from __future__ import annotations

import hmac

import pytest


@pytest.fixture
def compare_digest_calls(monkeypatch) -> list[tuple[str, str]]:
    """Every call of hmac.compare_digest from now on, still answered by the real function."""
    calls = []
    real = hmac.compare_digest

    def recording_compare_digest(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording_compare_digest)
    return calls
