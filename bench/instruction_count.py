"""Instructions per proxied request, counted by valgrind's callgrind: a measure of the
gateway's own CPU work that the host's mood cannot move.

Why: on a shared VM two timed runs of the same code differ by more than most changes weigh,
and even ``make bench-ab``'s noise floor hides the small savings most hot-path changes make
(docs/performance.md → Running it). callgrind counts the instructions the gateway process
executes, the same count for the same code and inputs whatever else the machine does, so a
change to the hot path can be weighed in one run of a few minutes.

``make bench-instructions [REF=<commit>]``: one uvicorn process of the working tree (and of
``REF`` when given, from a worktree as in ``bench/ab_compare.py``) runs under callgrind with
the production settings, PostgreSQL, Redis and the mock upstream of ``make bench``. For each
scenario of ``BENCH_INSTR_SCENARIOS`` (default ``chat``; the names of
``bench/request_scenarios.py``, e.g. ``messages,messages-stream,responses-native``), after a
warm-up its counters are zeroed, ``BENCH_INSTR_REQUESTS`` requests (default 300) are sent one
after the other on one keep-alive connection, and the counters are dumped. Also counted: the
process idle, so that background work (configuration polling) is known and taken out of
each scenario in proportion to its wall time. Prints instructions per request, the share of
the largest libraries, and each dialect scenario's count as a ratio to chat's (streamed to
streamed) on the same process; writes ``bench/results/instructions-<stamp>.json``.

Why the ratio is taken on one process in one run: the dialects' target is a cost within 10%
of chat's, and two counts of the same code agree within a fraction of that only when the
interpreter, the warm caches and the configuration are the same.

Instructions are not time: a cache miss or a system call's wait costs time and few
instructions. This weighs CPU work; latency stays measured by ``make bench``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import bench_database as db
from bench.ab_compare import worktree_of
from bench.bench_settings import REPO, RESULTS_DIR, bool_setting, int_setting, settings_from_env
from bench.gateway_process import VENV_PYTHON
from bench.processes import http_wait, process_start
from bench.request_scenarios import SCENARIOS, RequestScenario, ratios_to_baseline, scenarios_choose
from bench.run_bench import BenchRun, log

CALLGRIND = ("valgrind", "--tool=callgrind", "--dump-instr=no", "--separate-threads=no")
TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)
# Where the instructions go, by object file (callgrind's "ob=" records), largest first.
OBJECT_LINE = re.compile(rb"^c?ob=\((\d+)\)(?: (.*))?$")


def requests_send(
    port: int, headers: dict[str, str], count: int, scenario: RequestScenario = SCENARIOS["chat"]
) -> None:
    """``count`` requests of ``scenario`` in series on one keep-alive connection, each answer
    read to its end (a stream's last event included); any non-200 stops."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for _ in range(count):
            connection.request("POST", scenario.path, body=scenario.body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"gateway answered {scenario.name} with {response.status}: {body[:300]!r}")
    finally:
        connection.close()


def callgrind_dump(pid: int, out_prefix: Path, label: str) -> Path:
    """Dump the counters since the last zeroing; the new file is the one callgrind_control names."""
    before = set(out_prefix.parent.glob(f"{out_prefix.name}*"))
    subprocess.run(["callgrind_control", "--dump=" + label, str(pid)], check=True, capture_output=True, timeout=300)  # noqa: S603, S607
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = [p for p in out_prefix.parent.glob(f"{out_prefix.name}*") if p not in before]
        if new and new[0].stat().st_size > 0:
            time.sleep(1.0)  # let callgrind finish writing
            return new[0]
        time.sleep(0.5)
    raise RuntimeError("callgrind wrote no dump")


def callgrind_zero(pid: int) -> None:
    subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True, timeout=300)  # noqa: S603, S607


def dump_totals(path: Path) -> tuple[int, dict[str, int]]:
    """Total instructions, and instructions by object file (self cost of its functions)."""
    data = path.read_bytes()
    match = TOTALS.search(data)
    total = int(match[1]) if match else 0
    names: dict[str, str] = {}
    by_object: dict[str, int] = {}
    current = ""
    after_call = False
    for line in data.splitlines():
        if after_call:
            after_call = False  # the line after calls= is the callee's inclusive cost
            continue
        if line.startswith(b"calls="):
            after_call = True
        elif line.startswith((b"ob=", b"cob=")):
            # Names are given once, on whichever of ob= (this function's) or cob= (a callee's)
            # mentions the object first; later lines carry only the number.
            found = OBJECT_LINE.match(line)
            if found:
                key = found[1].decode()
                if found[2]:
                    names[key] = Path(found[2].decode(errors="replace")).name
                if line.startswith(b"ob="):
                    current = key
        elif line[:1].isdigit() or line[:1] == b"+" or line[:1] == b"-":
            # A cost line of the current function: "<line> <Ir>" (self cost).
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                by_object[current] = by_object.get(current, 0) + int(parts[1])
    return total, {names.get(key, key): cost for key, cost in by_object.items()}


def scenario_count(
    pid: int, port: int, headers: dict[str, str], scenario: RequestScenario, requests: int, out_prefix: Path
) -> dict[str, Any]:
    """One scenario's busy count: warm, zero, send, dump."""
    requests_send(port, headers, max(20, requests // 3), scenario)
    callgrind_zero(pid)
    started = time.monotonic()
    requests_send(port, headers, requests, scenario)
    busy_seconds = time.monotonic() - started
    busy_total, by_object = dump_totals(callgrind_dump(pid, out_prefix, f"busy-{scenario.name}"))
    shares = sorted(by_object.items(), key=lambda item: -item[1])[:8]
    return {
        "scenario": scenario.name, "path": scenario.path, "route": scenario.route, "baseline": scenario.baseline,
        "busy_seconds": busy_seconds, "instructions_busy": busy_total,
        "by_object_percent": {name: round(100 * cost / max(1, busy_total), 1) for name, cost in shares},
    }  # fmt: skip


def idle_rate(pid: int, seconds: float, out_prefix: Path) -> float:
    """Instructions a second the process spends with no request (configuration polling, timers)."""
    callgrind_zero(pid)
    time.sleep(seconds)
    idle_total, _ = dump_totals(callgrind_dump(pid, out_prefix, "idle"))
    return idle_total / seconds


def per_request(counts: list[dict[str, Any]], idle_per_second: float, requests: int) -> dict[str, int]:
    """Each scenario's instructions a request, net of what its wall time costs idle."""
    return {
        c["scenario"]: round((c["instructions_busy"] - idle_per_second * c["busy_seconds"]) / requests) for c in counts
    }


def measure(
    label: str, source: Path, run: BenchRun, port: int, requests: int, scenarios: list[RequestScenario]
) -> dict[str, Any]:
    settings = run.settings
    out_prefix = settings.run_dir / f"callgrind-{label}.out"
    argv = [
        *CALLGRIND, f"--callgrind-out-file={out_prefix}.%p",
        str(VENV_PYTHON), "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = process_start(f"callgrind-{label}", argv, run_dir=settings.run_dir, env=run.env, cwd=source)
    run.processes.append(process)
    http_wait(f"http://127.0.0.1:{port}/v1/models", process=process, timeout=600)
    headers = dict(run.gateway_request("/v1/chat/completions", b"").headers)
    log(f"{label}: warming up under callgrind")
    # Every scenario once before any is counted: the first request of a path imports and
    # builds what later ones reuse, which no scenario's count should carry.
    for scenario in scenarios:
        requests_send(port, headers, 10, scenario)
    counts = []
    for scenario in scenarios:
        counts.append(scenario_count(process.pid, port, headers, scenario, requests, out_prefix))
        log(f"{label}: {scenario.name} counted ({counts[-1]['busy_seconds']:.0f} s)")
    # Idle for as long as the longest scenario took, at most a minute: the idle rate is steady.
    idle_per_second = idle_rate(process.pid, min(60.0, max(c["busy_seconds"] for c in counts)), out_prefix)
    process.stop()
    instructions = per_request(counts, idle_per_second, requests)
    ratios = ratios_to_baseline({name: float(value) for name, value in instructions.items()})
    # Gross (idle left in) beside net: on a busy host the scenarios' wall times differ, and with
    # them the idle share taken out; where the two ratios agree, that share does not matter.
    gross = ratios_to_baseline({c["scenario"]: c["instructions_busy"] / requests for c in counts})
    for c in counts:
        c["instructions_per_request"] = instructions[c["scenario"]]
        c["ratio_to_baseline"] = ratios[c["scenario"]]
        c["gross_ratio_to_baseline"] = gross[c["scenario"]]
        c["busy_seconds"] = round(c["busy_seconds"], 1)
        ratio = (
            ""
            if c["scenario"] == c["baseline"]
            else f", {ratios[c['scenario']]:.3f} of {c['baseline']}'s ({gross[c['scenario']]:.3f} with idle left in)"
        )
        log(f"{label}: {c['scenario']}: {c['instructions_per_request']:,} instructions a request{ratio}")
        log(f"{label}: {c['scenario']}: by object: {c['by_object_percent']}")
    chat = next((c for c in counts if c["scenario"] == "chat"), counts[0])
    # The top-level figures stay chat's, as before scenarios existed: earlier results read the same.
    result = {
        "label": label, "source": str(source), "requests": requests,
        "idle_instructions_per_second": round(idle_per_second),
        "instructions_per_request": chat["instructions_per_request"], "by_object_percent": chat["by_object_percent"],
        "scenarios": counts,
    }  # fmt: skip
    return result


def bare_measure(run: BenchRun, port: int, requests: int) -> dict[str, Any]:
    """The bare passthrough's chat request, counted as the gateway's is: the floor aidgate's
    count is read against (``feature_cost_ratio`` by instructions, without the timing noise).

    Why here: the timed ratio of ``make bench``'s peers phase moves by ±10% between rounds on a
    shared host, while two counts of the same code agree within a fraction of a percent, so a
    change's effect on the ratio is read here (``docs/performance.md``)."""
    settings = run.settings
    out_prefix = settings.run_dir / "callgrind-bare.out"
    argv = [
        *CALLGRIND, f"--callgrind-out-file={out_prefix}.%p",
        str(VENV_PYTHON), "-m", "uvicorn", "bench.bare_passthrough:app", "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_BARE_UPSTREAM": run.mock_url}
    process = process_start("callgrind-bare", argv, run_dir=settings.run_dir, env=env, cwd=REPO)
    run.processes.append(process)
    http_wait(f"http://127.0.0.1:{port}/v1/models", process=process, timeout=600)
    headers = dict(run.direct_request("/v1/chat/completions", b"").headers)
    chat = SCENARIOS["chat"]
    requests_send(port, headers, 10, chat)
    count = scenario_count(process.pid, port, headers, chat, requests, out_prefix)
    idle_per_second = idle_rate(process.pid, min(60.0, max(1.0, count["busy_seconds"])), out_prefix)
    process.stop()
    per = per_request([count], idle_per_second, requests)["chat"]
    log(f"bare passthrough: chat: {per:,} instructions a request; by object: {count['by_object_percent']}")
    return {
        "label": "bare", "requests": requests, "instructions_per_request": per,
        "idle_instructions_per_second": round(idle_per_second), "by_object_percent": count["by_object_percent"],
    }  # fmt: skip


def main() -> int:
    settings = settings_from_env()
    requests = int_setting("BENCH_INSTR_REQUESTS", 300, minimum=10)
    scenarios = scenarios_choose(os.environ.get("BENCH_INSTR_SCENARIOS", "chat"))
    ref = os.environ.get("BENCH_AB_REF", "").strip()
    run = BenchRun(settings)
    results: list[dict[str, Any]] = []
    bare: dict[str, Any] | None = None
    try:
        run.setup()
        sides: list[tuple[str, Path]] = [("A", REPO)]
        if ref:
            other, commit = worktree_of(ref)
            log(f"A: working tree; B: {ref} ({commit[:12]}) from {other}")
            sides.append(("B", other))
        for index, (label, source) in enumerate(sides):
            results.append(measure(label, source, run, settings.gateway_port + 11 + index, requests, scenarios))
        if bool_setting("BENCH_INSTR_BARE", True):
            bare = bare_measure(run, settings.gateway_port + 20, requests)
    finally:
        run.stop_all()
        db.database_drop(settings)
        db.redis_flush(settings)
    path = RESULTS_DIR / f"instructions-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"ref": ref or None, "results": results, "bare": bare}, indent=2))
    summary = " ".join(summary_fields(results, bare))
    print(summary, flush=True)
    log(f"results: {path}")
    return 0


def summary_fields(results: list[dict[str, Any]], bare: dict[str, Any] | None = None) -> list[str]:
    """The last line's ``name=value`` fields: chat's count per side as before, then each other
    scenario's count and its ratio to its baseline, then the bare passthrough's count and each
    side's chat over it (``feature_cost_instruction_ratio``)."""
    fields = [f"instructions_per_request_{r['label']}={r['instructions_per_request']}" for r in results]
    if bare is not None and bare["instructions_per_request"] > 0:
        fields.append(f"instructions_per_request_bare={bare['instructions_per_request']}")
        floor = bare["instructions_per_request"]
        fields += [
            f"feature_cost_instruction_ratio_{r['label']}={r['instructions_per_request'] / floor:.3f}" for r in results
        ]
    for r in results:
        for c in r["scenarios"]:
            if c["scenario"] == "chat":
                continue
            name = c["scenario"].replace("-", "_")
            fields.append(f"instructions_per_request_{name}_{r['label']}={c['instructions_per_request']}")
            if c["scenario"] != c["baseline"]:
                fields.append(f"ratio_{name}_{r['label']}={c['ratio_to_baseline']:.4f}")
    return fields


if __name__ == "__main__":
    sys.exit(main())
