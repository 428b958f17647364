"""Helpers of the policy tests: a movable gateway clock and a short way to call the proxy."""

from __future__ import annotations

import pytest

from proxy import policy_enforcement


class MovableClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def gateway_clock(monkeypatch):
    """The gateway's limit clock, injected (the gateway runs in this process, in a thread)."""
    clock = MovableClock(1_900_000_000.0)  # 2030-03-17T17:46:40Z, a Sunday
    monkeypatch.setattr(policy_enforcement, "clock", clock)
    return clock


def call(world, model: str = "mock-1", *, headers: dict | None = None, path: str = "/v1/chat/completions", **body):
    payload = {"model": model, "messages": [{"role": "user", "content": "Hi"}], **body}
    with world.http(**{"X-API-Key": world.secret, **(headers or {})}) as client:
        if path.endswith("/models"):
            return client.get(path)
        return client.post(path, json=payload)
