"""Closed-loop HTTP load with wrk (Debian's package) and its JSON summary line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.bench_settings import BENCH_DIR

WRK_SCRIPT = BENCH_DIR / "wrk_post.lua"


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """What every connection sends, again and again."""

    url: str
    method: str = "POST"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class LoadResult:
    target: str
    scenario: str
    connections: int
    seconds: float
    requests: int
    throughput_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    errors_status: int
    cpu_ms_per_request: float | None = None
    # Of cpu_ms_per_request: the Celery worker (sealing, rollups) of the gateway's runs.
    background_cpu_ms_per_request: float | None = None
    redis_cpu_us_per_request: float | None = None
    postgres_cpu_us_per_request: float | None = None
    lua_us_per_call: float | None = None
    statuses: dict[str, int] | None = None
    # Which of the repeated pairs of runs at one connection (BENCH_ONE_CONNECTION_ROUNDS) this is.
    repeat: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk); bench/run.sh installs it")
    return found


def wrk_run(
    request: LoadRequest, *, connections: int, seconds: float, work_dir: Path, target: str, scenario: str
) -> LoadResult:
    """One wrk run with one thread (the second core stays with the system under test)."""
    body_file = work_dir / f"body-{scenario}.bin"
    body_file.write_bytes(request.body)
    env = dict(os.environ)
    env["WRK_METHOD"] = request.method
    env["WRK_BODY_FILE"] = str(body_file) if request.body else ""
    env["WRK_HEADERS"] = "\n".join(f"{name}: {value}" for name, value in request.headers)
    argv = [
        wrk_path(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(WRK_SCRIPT), request.url,
    ]  # fmt: skip
    completed = subprocess.run(  # noqa: S603
        argv, env=env, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({completed.returncode}): {completed.stdout[-1000:]} {completed.stderr[-1000:]}"
        )
    raw = json.loads(line.removeprefix("WRK_JSON "))
    duration = raw["duration_us"] / 1e6
    errors = raw["errors_connect"] + raw["errors_read"] + raw["errors_write"] + raw["errors_timeout"]
    return LoadResult(
        target=target,
        scenario=scenario,
        connections=connections,
        seconds=round(duration, 3),
        requests=raw["requests"],
        throughput_rps=round(raw["requests"] / duration, 1) if duration else 0.0,
        p50_ms=raw["latency_p50_us"] / 1000,
        p90_ms=raw["latency_p90_us"] / 1000,
        p99_ms=raw["latency_p99_us"] / 1000,
        p999_ms=raw["latency_p999_us"] / 1000,
        mean_ms=round(raw["latency_mean_us"] / 1000, 3),
        max_ms=raw["latency_max_us"] / 1000,
        errors=errors + raw["errors_status"],
        errors_status=raw["errors_status"],
        statuses=raw.get("statuses"),
    )
