"""Configuration propagation under load: how long a change takes to reach every process.

Two gateway processes (gunicorn with one uvicorn worker each, so that each can be asked on
its own) carry the chat load, half the connections each. Once a second a change is made
through the management API of one of them, alternately: a probe agent is suspended, then
resumed. Right after the change's answer, each process is asked with the probe agent's key,
over and over, until it answers by the new configuration; the figure of one change is the
time from the change's answer to the last process's first right answer. The SPEC allows one
second. The probe agent and its key are themselves created through the API just before and
must work at once on both processes.

``make bench`` runs it as one of its phases; ``make bench-propagation`` runs it alone.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.wrk_load import LoadRequest, LoadResult, wrk_run

CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "probe"}], "max_tokens": 8})


@dataclass
class Propagation:
    """The measured changes: milliseconds from each change's answer to every process's."""

    delays_ms: list[float] = field(default_factory=list)
    load: list[LoadResult] = field(default_factory=list)
    wrong_first_uses: int = 0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.delays_ms)

        def pct(p: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

        return {
            "changes": len(ordered),
            "p50_ms": pct(50),
            "p99_ms": pct(99),
            "max_ms": round(ordered[-1], 1) if ordered else None,
            "mean_ms": round(statistics.fmean(ordered), 1) if ordered else None,
            "wrong_first_uses": self.wrong_first_uses,
            "load_rps": round(sum(r.throughput_rps for r in self.load), 1),
            "load_connections": sum(r.connections for r in self.load),
            "load_errors": sum(r.errors for r in self.load),
        }


class Api:
    """A keep-alive HTTP/1.1 connection to one process, opened again when the server closed it
    (its keep-alive timeout ends an idle connection)."""

    def __init__(self, port: int, authorization: str) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self._authorization = authorization

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        payload = json.dumps(body) if body is not None and not isinstance(body, str) else body
        headers = {"Authorization": self._authorization, "Content-Type": "application/json"}
        try:
            return self._send(method, path, payload, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self._connection.close()
            return self._send(method, path, payload, headers)

    def _send(self, method: str, path: str, payload: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self._connection.request(method, path, body=payload, headers=headers)
        response = self._connection.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else {})

    def close(self) -> None:
        self._connection.close()


def _reason(status: int, body: dict[str, Any]) -> str | None:
    return body.get("error", {}).get("reason") if status >= 400 else None


def propagation_measure(
    *, ports: tuple[int, int], org_key: str, agent_key: str, changes: int, connections: int, work_dir
) -> Propagation:
    """Run the load on both processes and ``changes`` changes, one a second, measuring each."""
    result = Propagation()
    admins = [Api(port, f"Bearer {org_key}") for port in ports]
    status, agent = admins[0].call("POST", "/v1/agents", {"name": "propagation-probe"})
    assert status == 201, (status, agent)
    status, key = admins[1].call("POST", f"/v1/agents/{agent['id']}/keys", {"name": "probe"})
    assert status == 201, (status, key)
    probes = [Api(port, f"Bearer {key['key']}") for port in ports]
    for probe in reversed(probes):  # first use: at once, on either process
        status, body = probe.call("POST", "/v1/chat/completions", CHAT)
        result.wrong_first_uses += status != 200

    seconds = changes + 5
    loads: list[LoadResult | None] = [None, None]

    def load(index: int) -> None:
        request = LoadRequest(
            url=f"http://127.0.0.1:{ports[index]}/v1/chat/completions",
            body=CHAT.encode(),
            headers=(("Authorization", f"Bearer {agent_key}"), ("Content-Type", "application/json")),
        )
        loads[index] = wrk_run(
            request, connections=max(1, connections // 2), seconds=seconds, work_dir=work_dir,
            target="aidgate", scenario=f"propagation-{index}",
        )  # fmt: skip

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in (0, 1)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # the load is running everywhere before the first change
    try:
        for n in range(changes):
            started = time.monotonic()
            suspended = n % 2 == 0
            status, body = admins[n % 2].call(
                "PATCH", f"/v1/agents/{agent['id']}", {"status": "suspended" if suspended else "active"}
            )
            assert status == 200, (status, body)
            answered = time.monotonic()
            expected = (403, "agent_suspended") if suspended else (200, None)
            seen_by_all = answered
            for probe in probes:
                while True:
                    status, body = probe.call("POST", "/v1/chat/completions", CHAT)
                    if (status, _reason(status, body)) == expected:
                        seen_by_all = max(seen_by_all, time.monotonic())
                        break
                    if time.monotonic() - answered > 10:
                        raise RuntimeError(f"a process still answered {status} ten seconds after a change")
                    time.sleep(0.002)
            result.delays_ms.append((seen_by_all - answered) * 1000)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    finally:
        for thread in threads:
            thread.join(seconds + 90)
        for api in (*admins, *probes):
            api.close()
    result.load = [r for r in loads if r is not None]
    return result
