"""What one admission costs in Redis as the one-minute windows fill up.

The load runs start from empty windows (so that they are comparable); in steady state a
window holds every admission of the last minute. This probe fills the windows of one
synthetic key to given sizes and times the gateway's own admission script against them,
with the checks the bench policy takes (request window, lease, token window, user window,
budget). Keys live under ``aid:{bench-probe}`` in the bench's Redis db and are deleted after.
"""

from __future__ import annotations

import time

import redis

from bench.bench_settings import BenchSettings

PREFIX = "aid:{bench-probe}"
SIZES = (0, 1_000, 10_000, 60_000)
CALLS = 20


def _checks_json(cost: int) -> str:
    from proxy.limit_store import Check, _checks_json

    return _checks_json(
        [
            Check("window", f"{PREFIX}:rpm", 10**8, "requests_per_minute"),
            Check("lease", f"{PREFIX}:inflight", 10**5, "concurrency", ttl_ms=600_000),
            Check("tokens", f"{PREFIX}:tpm", 2 * 10**9, "tokens_per_minute", cost=cost),
            Check("window", f"{PREFIX}:urpm", 10**8, "user_requests_per_minute"),
            Check("budget", f"{PREFIX}:budget", 10**15, "daily_tokens", cost=cost, ttl_ms=10**8),
        ]
    )


def _fill(client: redis.Redis, size: int, now_ms: int) -> None:
    pipe = client.pipeline(transaction=False)
    for start in range(0, size, 5000):
        members = range(start, min(size, start + 5000))
        pipe.zadd(f"{PREFIX}:rpm", {f"fill{n}": now_ms - 1000 for n in members})
        pipe.zadd(f"{PREFIX}:urpm", {f"fill{n}": now_ms - 1000 for n in members})
        pipe.zadd(f"{PREFIX}:tpm", {f"fill{n}:300": now_ms - 1000 for n in members})
    pipe.execute()


def limit_window_probe(settings: BenchSettings) -> list[dict[str, float]]:
    from proxy.limit_store import ADMIT_LUA

    client = redis.Redis.from_url(settings.redis_url)
    admit = client.register_script(ADMIT_LUA)
    keys = [f"{PREFIX}:{k}" for k in ("rpm", "inflight", "tpm", "urpm", "budget")]
    rows = []
    try:
        for size in SIZES:
            client.delete(*keys)
            _fill(client, size, int(time.time() * 1000))
            args_json = _checks_json(300)
            samples = []
            for call in range(CALLS):
                started = time.perf_counter()
                admit(keys=keys, args=[int(time.time() * 1000), f"probe{call}", args_json])
                samples.append((time.perf_counter() - started) * 1e6)
            samples.sort()
            p50 = samples[len(samples) // 2]
            rows.append(
                {"window_entries": size, "admit_p50_us": round(p50), "admit_max_us": round(samples[-1]),
                 "admits_per_second_ceiling": round(1e6 / p50)}
            )  # fmt: skip
    finally:
        client.delete(*keys)
        client.close()
    return rows
