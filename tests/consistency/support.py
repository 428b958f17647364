"""Two gateway processes, one management API and a tally of wrong answers.

Every object here is created over HTTP through one process's management API, the way a
script does, and used at once through the proxy of each process in turn: the case a user
hits first and that no single-process test can show.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.servers import GatewayProcess

CHAT = {"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]}
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def answer_of(response: httpx.Response) -> tuple[int, str | None]:
    """(status, error reason) — what the model of the tests compares."""
    if response.status_code < 400:
        return response.status_code, None
    try:
        return response.status_code, response.json()["error"].get("reason")
    except (ValueError, KeyError, TypeError):
        return response.status_code, "not-an-envelope"


@dataclass
class Tally:
    """Counts answers by kind; a test asserts that only the expected one occurred."""

    seen: Counter = field(default_factory=Counter)

    def add(self, response: httpx.Response | tuple[int, str | None]) -> None:
        self.seen[response if isinstance(response, tuple) else answer_of(response)] += 1

    def wrong(self, expected: tuple[int, str | None] = (200, None)) -> dict:
        return {answer: n for answer, n in self.seen.items() if answer != expected}


class GatewayPair:
    """Two gateway processes on the test database and one Redis, each with a management
    client (the tenant's admin org key) and a proxy client."""

    def __init__(self, gateways: list[GatewayProcess], org_secret: str, tenant_id: str) -> None:
        self.gateways = gateways
        self.tenant_id = tenant_id
        self.admin = [
            httpx.Client(base_url=g.url, headers={"Authorization": f"Bearer {org_secret}"}, timeout=20)
            for g in gateways
        ]
        self.proxy = [httpx.Client(base_url=g.url, timeout=20) for g in gateways]

    def close(self) -> None:
        for client in (*self.admin, *self.proxy):
            client.close()

    def create(self, via: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.admin[via].post(path, json=body)
        assert response.status_code == 201, (path, response.status_code, response.text)
        return response.json()

    def change(self, via: int, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        response = self.admin[via].request(method, path, json=body)
        assert response.status_code in (200, 201, 204), (method, path, response.status_code, response.text)

    def chat(self, on: int, path: str = "/v1/chat/completions", **request: Any) -> httpx.Response:
        headers = request.pop("headers", {})
        body = {**CHAT, **request}
        return self.proxy[on].post(path, json=body, headers=headers)

    def models(self, on: int, secret: str) -> httpx.Response:
        return self.proxy[on].get("/v1/models", headers={"X-API-Key": secret})


class Traffic:
    """Steady calls on both processes with a key of their own, as production has: it keeps
    each process's snapshot warm and its view of the tenant's generation recent, which is
    when a process that trusts them would answer for an object it has not seen."""

    def __init__(self, pair: GatewayPair, secret: str, interval: float = 0.02) -> None:
        self._pair, self._secret, self._interval = pair, secret, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="warm-traffic")
        self.answers = Tally()

    def _run(self) -> None:
        clients = [httpx.Client(base_url=g.url, timeout=20) for g in self._pair.gateways]
        try:
            while not self._stop.wait(self._interval):
                for client in clients:
                    response = client.post("/v1/chat/completions", json=CHAT, headers={"X-API-Key": self._secret})
                    self.answers.add(response)
        finally:
            for client in clients:
                client.close()

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
