"""``make bench-scale``: configuration at scale, and the logs API past 5 million records.

Seeds ``BENCH_SCALE_TENANTS`` tenants (default 10,000), one of them big (``BENCH_SCALE_AGENTS``
agents with a key each, default 100,000, and ``BENCH_SCALE_POLICIES`` policies, default 1,000),
and measures, with the rest of ``make bench``'s machinery (bench/run_bench.py's set-up, the
mock upstream, production settings, PostgreSQL and Redis):

(d) one snapshot load of the big tenant and of the small one, off the gateway, and what the
    snapshot weighs (bench/scale_rebuild.py);
(a) instructions a warm chat request on the big tenant against the small one, on one process
    under callgrind (bench/instruction_count.py's counting), and wall time at one connection
    (wrk, the two tenants turn about on one gateway);
(c) the resident memory of each of two single-worker gateways once a request of every
    tenant has gone through it (VmRSS of /proc/<pid>/status);
(b) with every tenant warm, a change on the big tenant once a second under load, and how
    long until both processes answer by it (bench/propagation.py);
then the logs API at ``BENCH_SCALE_LOGS_ROWS`` records (default 5 and 20 million;
bench/run_bench.py's logs phase, which runs bench/logs_at_scale.py). ``BENCH_SCALE_PHASES``
(``rebuild,instructions,wall,memory,logs``) runs some of these only; (c) and (b) are ``memory``.

Instructions are load-independent; every time here is not (a shared machine): the results
record the machine's load. Ends with one line: ``scale_cost_growth_pct=X
scale_propagation_p99_ms=Y scale_worker_rss_mb=Z logs_p95_ms_20m=W logs_growth_pct=V``. Only a
run at full size writes docs/performance.md.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import bench_database as db
from bench.bench_settings import (
    PERFORMANCE_DOC,
    REPO,
    RESULTS_DIR,
    BenchSettings,
    int_setting,
    settings_from_env,
)
from bench.gateway_process import VENV_PYTHON, django_command, gateway_start
from bench.instruction_count import (
    CALLGRIND,
    callgrind_dump,
    callgrind_zero,
    dump_totals,
    idle_rate,
    requests_send,
)
from bench.processes import children_of, http_wait, process_start
from bench.propagation import propagation_measure
from bench.report_writer import doc_block_replace, results_write
from bench.request_scenarios import CHAT_BODY
from bench.run_bench import BenchRun, git_state, log
from bench.wrk_load import LoadRequest, wrk_run

FULL = {"tenants": 10_000, "agents": 100_000, "policies": 1_000, "logs_rows": (5_000_000, 20_000_000)}
# What BENCH_SCALE_PHASES may name (all by default): a reduced check of one part skips the rest.
PHASES = ("rebuild", "instructions", "wall", "memory", "logs")
DOC_START = "<!-- bench:scale:start (written by bench/scale_bench.py; edit outside this block) -->"
DOC_END = "<!-- bench:scale:end -->"


@dataclass(frozen=True, slots=True)
class ScaleSettings:
    tenants: int
    agents: int
    policies: int
    logs_rows: tuple[int, ...]
    instr_requests: int
    wall_seconds: int
    warm_connections: int
    phases: tuple[str, ...] = PHASES

    @property
    def full_size(self) -> bool:
        return (
            self.tenants >= FULL["tenants"]
            and self.agents >= FULL["agents"]
            and self.policies >= FULL["policies"]
            and self.logs_rows == FULL["logs_rows"]
            and self.phases == PHASES
        )


def scale_settings_from_env() -> ScaleSettings:
    raw_rows = [
        int(part.replace("_", ""))
        for part in os.environ.get("BENCH_SCALE_LOGS_ROWS", "5000000,20000000").split(",")
        if part.strip()
    ]
    return ScaleSettings(
        tenants=int_setting("BENCH_SCALE_TENANTS", FULL["tenants"], minimum=2),
        agents=int_setting("BENCH_SCALE_AGENTS", FULL["agents"], minimum=1),
        policies=int_setting("BENCH_SCALE_POLICIES", FULL["policies"], minimum=1),
        # Two sizes, smaller first (0,0 skips the logs): the growth is between them.
        logs_rows=tuple(sorted(raw_rows)),
        instr_requests=int_setting("BENCH_SCALE_INSTR_REQUESTS", 150, minimum=10),
        wall_seconds=int_setting("BENCH_SCALE_WALL_SECONDS", 8, minimum=1),
        warm_connections=int_setting("BENCH_SCALE_WARM_CONNECTIONS", 4, minimum=1),
        phases=_phases_from_env(),
    )


def _phases_from_env() -> tuple[str, ...]:
    named = [p.strip() for p in os.environ.get("BENCH_SCALE_PHASES", ",".join(PHASES)).split(",") if p.strip()]
    unknown = sorted(set(named) - set(PHASES))
    if unknown:
        raise SystemExit(f"BENCH_SCALE_PHASES: unknown {unknown}; known: {', '.join(PHASES)}")
    return tuple(p for p in PHASES if p in named)


def _headers(key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "X-User-Email": "bench-user@example.com",
    }


def rebuild_time(run: BenchRun, small: dict, big: dict) -> dict[str, Any]:
    """(d): a snapshot load of each, three times, in a process of its own."""
    out = django_command(
        run.settings, run.env, "-m", "bench.scale_rebuild", "--tenant", big["tenant_id"],
        "--tenant", small["tenant_id"], "--repeats", "3", "--agent", f"{big['tenant_id']}:{big['sample_agent_id']}",
        "--warm-keys", "2000",
        timeout=1200,
    )  # fmt: skip
    found = json.loads(out.strip().splitlines()[-1])
    return {"big": found[big["tenant_id"]], "small": found[small["tenant_id"]]}


def instructions(run: BenchRun, small: dict, big: dict, scale: ScaleSettings) -> dict[str, Any]:
    """(a): one uvicorn process under callgrind; small, big, small, big, each warm, counted."""
    s = run.settings
    port = s.gateway_port + 11
    out_prefix = s.run_dir / "callgrind-scale.out"
    argv = [
        *CALLGRIND, f"--callgrind-out-file={out_prefix}.%p",
        str(VENV_PYTHON), "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = process_start("callgrind-scale", argv, run_dir=s.run_dir, env=run.env, cwd=REPO)
    run.processes.append(process)
    try:
        http_wait(f"http://127.0.0.1:{port}/v1/models", process=process, timeout=600)
        sides = {"small": _headers(small["agent_key"]), "big": _headers(big["agent_key"])}
        for name, headers in sides.items():
            started = time.monotonic()
            requests_send(port, headers, 20)
            log(f"instructions: {name} warmed under callgrind in {time.monotonic() - started:.0f} s")
        counts: dict[str, list[tuple[int, float]]] = {"small": [], "big": []}
        for name in ("small", "big", "small", "big"):
            requests_send(port, sides[name], 10)
            callgrind_zero(process.pid)
            started = time.monotonic()
            requests_send(port, sides[name], scale.instr_requests)
            busy = time.monotonic() - started
            total, _ = dump_totals(callgrind_dump(process.pid, out_prefix, f"scale-{name}"))
            counts[name].append((total, busy))
            log(f"instructions: {name}: {total / scale.instr_requests:,.0f} a request gross ({busy:.0f} s)")
        idle = idle_rate(process.pid, min(30.0, max(b for c in counts.values() for _, b in c)), out_prefix)
    finally:
        process.stop()
    per_request = {
        name: round(sum(total - idle * busy for total, busy in runs) / (len(runs) * scale.instr_requests))
        for name, runs in counts.items()
    }
    growth = 100.0 * (per_request["big"] / per_request["small"] - 1.0)
    return {
        "requests_each": scale.instr_requests,
        "idle_instructions_per_second": round(idle),
        "per_request": per_request,
        "growth_pct": round(growth, 2),
    }


def wall_time(run: BenchRun, small: dict, big: dict, scale: ScaleSettings) -> dict[str, Any]:
    """(a): wrk at one connection, the two tenants turn about (two rounds), on the main gateway."""
    results: dict[str, list[dict[str, float]]] = {"small": [], "big": []}
    for rnd in range(2):
        for name, seed in (("small", small), ("big", big)):
            request = LoadRequest(
                url=f"{run.gateway.url}/v1/chat/completions", body=CHAT_BODY,
                headers=tuple(_headers(seed["agent_key"]).items()),
            )  # fmt: skip
            wrk_run(request, connections=1, seconds=2, work_dir=run.settings.run_dir, target="scale", scenario="warm")
            found = wrk_run(
                request, connections=1, seconds=scale.wall_seconds, work_dir=run.settings.run_dir,
                target="scale", scenario=f"{name}-{rnd}",
            )  # fmt: skip
            results[name].append({"p50_ms": found.p50_ms, "p99_ms": found.p99_ms, "rps": found.throughput_rps})
            log(f"wall: {name} round {rnd}: p50 {found.p50_ms:.3f} ms, {found.throughput_rps:,.0f} req/s")

    def mean(name: str, field: str) -> float:
        return sum(r[field] for r in results[name]) / len(results[name])

    return {
        "rounds": results,
        "p50_ms": {name: round(mean(name, "p50_ms"), 3) for name in results},
        "growth_pct": round(100.0 * (mean("big", "p50_ms") / mean("small", "p50_ms") - 1.0), 2),
    }


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return math.nan


def warm_every_tenant(ports: tuple[int, ...], keys: list[str], connections: int) -> dict[str, Any]:
    """(c): a chat request of every key through every port, ``connections`` at a time per port."""
    failures: list[str] = []
    started = time.monotonic()

    def worker(port: int, part: list[str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for key in part:
                connection.request("POST", "/v1/chat/completions", body=CHAT_BODY, headers=_headers(key))
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 and len(failures) < 20:
                    failures.append(f"{port}: {response.status} {body[:200]!r}")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(port, keys[i::connections]), daemon=True)
        for port in ports
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": len(keys) * len(ports), "seconds": round(time.monotonic() - started, 1), "failures": failures}


def memory_and_propagation(
    run: BenchRun, small: dict, big: dict, fillers: list[str], scale: ScaleSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(c) then (b), on two single-worker gateways (each asked on its own)."""
    s = run.settings
    ports = (s.propagation_port, s.propagation_port + 1)
    gateways = []
    try:
        for index, port in enumerate(ports):
            gateway = gateway_start(s, run.env, name=f"gateway-scale-{index}", port=port, workers=1)
            run.processes.append(gateway.process)
            gateways.append(gateway)
        workers = [pid for g in gateways for pid in children_of(g.process.pid)]
        before = {pid: vm_rss_mb(pid) for pid in workers}
        keys = [small["agent_key"], big["agent_key"], *fillers]
        log(f"memory: a request of each of {len(keys):,} tenants through each of {len(workers)} workers")
        warmed = warm_every_tenant(ports, keys, scale.warm_connections)
        log(f"memory: warmed in {warmed['seconds']} s, failures: {warmed['failures'][:3]}")
        after = {pid: vm_rss_mb(pid) for pid in workers}
        memory = {
            "tenants_warm": len(keys),
            "warm": warmed,
            "rss_mb_before": list(before.values()),
            "rss_mb": list(after.values()),
            "max_rss_mb": max(after.values()),
        }
        log(f"memory: worker VmRSS {memory['rss_mb']} MB (before the warm-up {memory['rss_mb_before']})")
        log(f"propagation: {s.propagation_changes} changes on the big tenant, {s.comparison_connections} connections")
        measured = propagation_measure(
            ports=ports, org_key=big["org_key"], agent_key=big["agent_key"],
            changes=s.propagation_changes, connections=s.comparison_connections, work_dir=s.run_dir,
        )  # fmt: skip
        propagation = measured.summary()
        propagation["delays_ms"] = [round(d, 1) for d in measured.delays_ms]
        memory["rss_mb_after_propagation"] = [vm_rss_mb(pid) for pid in workers]
        log(f"propagation: {propagation}")
    finally:
        for gateway in gateways:
            gateway.process.stop()
    return memory, propagation


def logs(run: BenchRun, scale: ScaleSettings) -> dict[str, Any]:
    """The logs API at each size of ``logs_rows`` (bench/run_bench.py's logs phase, which runs
    bench/logs_at_scale.py's load and time). The records are emptied between sizes, and the
    chain heads with them, so that each size's history is numbered in time order: records
    added onto the same 30 days would all be older than what the rollups had folded, and take
    their late-record path (``_heads_move``)."""
    sizes = [n for n in scale.logs_rows if n > 0]
    if len(sizes) < 2:
        return {"skipped": "BENCH_SCALE_LOGS_ROWS names fewer than two sizes"}
    found: dict[str, Any] = {}
    base = run.settings
    try:
        for index, size in enumerate(sizes):
            if index:
                records_empty(base)
            run.settings = dataclasses.replace(
                base, logs_rows=size, rollup_seconds=max(base.rollup_seconds, 80.0 * size / 1e6)
            )
            run.logs_phase()
            timings = run.results["logs"]["timings"]
            found[str(size)] = {
                "load": run.results["logs"].get("load"),
                "table_rows": run.results["logs"].get("table_rows"),
                "p95_ms": {f"{t['name']} ({t['via']})": t["p95_ms"] for t in timings},
                # The target's reads as the API serves them: the logs list and filters, and
                # /v1/usage once its rollups are current (a raw-SQL usage timing is what the
                # API does not run, and the users pages are not in the target).
                "max_p95_ms": max(
                    t["p95_ms"] for t in timings if t["via"] == "http" and t["name"].startswith(("logs_", "usage_"))
                ),
            }
    finally:
        run.settings = base
    first, last = found[str(sizes[0])]["max_p95_ms"], found[str(sizes[-1])]["max_p95_ms"]
    growth = {
        name: round(100.0 * (found[str(sizes[-1])]["p95_ms"][name] / p95 - 1.0), 1)
        for name, p95 in found[str(sizes[0])]["p95_ms"].items()
        if p95 and name in found[str(sizes[-1])]["p95_ms"]
    }
    return {
        "sizes": found,
        "p95_ms_largest": last,
        "growth_pct": round(100.0 * (last / first - 1.0), 1),
        "growth_pct_by_read": growth,
    }


def records_empty(settings: BenchSettings) -> None:
    """TRUNCATE the records (the append-only triggers guard rows, not the table's existence)
    and set every chain head back to 0: the next size's chains start at their first position."""
    with psycopg.connect(settings.database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("TRUNCATE forensics_requestlog")
        conn.execute("UPDATE forensics_auditchainhead SET last_seq = 0")


def _text(value: float | None) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def summary_line(results: dict[str, Any]) -> str:
    logs_found = results.get("logs") or {}
    return (
        f"scale_cost_growth_pct={_text((results.get('instructions') or {}).get('growth_pct'))} "
        f"scale_propagation_p99_ms={_text((results.get('propagation') or {}).get('p99_ms'))} "
        f"scale_worker_rss_mb={_text((results.get('memory') or {}).get('max_rss_mb'))} "
        f"logs_p95_ms_20m={_text(logs_found.get('p95_ms_largest'))} "
        f"logs_growth_pct={_text(logs_found.get('growth_pct'))}"
    )


def _per_10k_keys_mb(warm_keys: dict | None) -> float | None:
    """What 10,000 used keys weigh, from the keys weighed (2,000 by default: tracemalloc slows
    every query it watches, and the weight is linear in the keys)."""
    if not warm_keys or not warm_keys.get("keys"):
        return None
    return round(warm_keys["bytes"] / warm_keys["keys"] * 10_000 / 2**20, 1)


def doc_block(results: dict[str, Any]) -> str:
    """The scale section of docs/performance.md (between its markers)."""
    r = results
    inst, wall, mem = r.get("instructions", {}), r.get("wall_one_connection", {}), r.get("memory", {})
    prop, rebuild, logs_found = r.get("propagation", {}), r.get("rebuild", {}), r.get("logs", {})
    big_rebuild = rebuild.get("big", {})
    per_request = {name: f"{count:,}" for name, count in inst.get("per_request", {}).items()}
    lines = [
        DOC_START,
        f"Run {r['started_at']} at `{r['git'].get('commit', '?')[:12]}`"
        f"{' (with uncommitted changes)' if r['git'].get('changed_files') else ''}: `make bench-scale` "
        f"({r['scale']['tenants']:,} tenants; the big one {r['scale']['agents']:,} agents and keys, "
        f"{r['scale']['policies']:,} policies). Load average at the start: {r['loadavg_start']}.",
        "",
        "| measure | small tenant | big tenant | growth | target |",
        "|---|---|---|---|---|",
        f"| instructions a warm chat request (callgrind, load-independent) | {per_request.get('small', '-')} "
        f"| {per_request.get('big', '-')} | {inst.get('growth_pct')}% | ≤ 10% |",
        f"| wall time p50 at one connection (ms, shared machine) | {wall.get('p50_ms', {}).get('small')} "
        f"| {wall.get('p50_ms', {}).get('big')} | {wall.get('growth_pct')}% | ≤ 10% |",
        f"| snapshot load (s, cold then warm database cache) | {rebuild.get('small', {}).get('load_seconds')} "
        f"| {rebuild.get('big', {}).get('load_seconds')} | | |",
        f"| snapshot size (MB, tracemalloc) | {rebuild.get('small', {}).get('snapshot_mb')} "
        f"| {rebuild.get('big', {}).get('snapshot_mb')} | | |",
        "",
        f"An agent's first use with a snapshot of the big tenant reads it and its policies: "
        f"{big_rebuild.get('agent_load_seconds')} s ({big_rebuild.get('agent_policies')} policies).",
        "",
        f"Keys once used, as a worker's cache holds them (each key's entry and its agent's, tracemalloc): "
        f"{(big_rebuild.get('warm_keys') or {}).get('keys')} keys of the big tenant weigh "
        f"{(big_rebuild.get('warm_keys') or {}).get('mb')} MB, "
        f"{(big_rebuild.get('warm_keys') or {}).get('kb_per_key')} KB a key "
        f"({_per_10k_keys_mb(big_rebuild.get('warm_keys'))} MB per 10,000 keys).",
        "",
        f"Propagation of a change on the big tenant under load ({prop.get('changes')} changes, "
        f"{prop.get('load_connections')} connections, {prop.get('load_rps')} req/s, every tenant warm): "
        f"p50 {prop.get('p50_ms')} ms, p99 **{prop.get('p99_ms')} ms**, max {prop.get('max_ms')} ms "
        "(target ≤ 1,000 ms p99).",
        "",
        f"Worker memory with all {mem.get('tenants_warm', 0):,} tenants warm (VmRSS, each of two single-worker "
        f"gateways): {mem.get('rss_mb')} MB, before the warm-up {mem.get('rss_mb_before')} MB (target ≤ 500 MB).",
        "",
        f"Logs API: slowest p95 {logs_found.get('p95_ms_largest')} ms at the largest size, growth "
        f"{logs_found.get('growth_pct')}% from the smallest (targets ≤ 100 ms, ≤ 20%); by read: "
        f"{logs_found.get('growth_pct_by_read')}.",
        "",
        f"`{summary_line(results)}`",
        DOC_END,
    ]
    return "\n".join(lines)


def doc_update(results: dict[str, Any], doc: Path = PERFORMANCE_DOC) -> None:
    doc_block_replace(
        doc, doc_block(results), start=DOC_START, end=DOC_END,
        heading="## Configuration at scale (`make bench-scale`)",
    )  # fmt: skip


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    settings = settings_from_env()
    scale = scale_settings_from_env()
    run = BenchRun(settings)
    results: dict[str, Any] = {
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "scale": dataclasses.asdict(scale) | {"full_size": scale.full_size},
        "git": git_state(),
        "loadavg_start": run.loadavg_start,
    }
    failed: BaseException | None = None
    try:
        run.setup()
        small = run.seed
        scale_file = settings.run_dir / "seed-scale.json"
        log(f"seeding {scale.tenants:,} tenants, the big one {scale.agents:,} agents, {scale.policies:,} policies")
        out = django_command(
            settings, run.env, "-m", "bench.scale_seed", "--upstream", run.mock_url,
            "--small-seed", str(settings.run_dir / "seed.json"), "--tenants", str(scale.tenants),
            "--agents", str(scale.agents), "--policies", str(scale.policies), "--out", str(scale_file), timeout=1800,
        )  # fmt: skip
        results["seed"] = json.loads(out.strip().splitlines()[-1])
        log(f"seeded: {results['seed']}")
        seeded = json.loads(scale_file.read_text())
        scale_file.unlink()
        big, fillers = seeded["big"], seeded["small_tenants"]["keys"]
        # An agent of the big tenant bound to a policy (the bench agent is bound to none but the tenant's).
        big["sample_agent_id"] = seeded["big_grown"]["sample_keys"][0]["agent_id"]
        if "rebuild" in scale.phases:
            results["rebuild"] = rebuild_time(run, small, big)
            log(f"snapshot loads: {results['rebuild']}")
        if "instructions" in scale.phases:
            results["instructions"] = instructions(run, small, big, scale)
            log(f"instructions: {results['instructions']}")
        if "wall" in scale.phases:
            results["wall_one_connection"] = wall_time(run, small, big, scale)
            log(f"wall at one connection: {results['wall_one_connection']['p50_ms']}")
        if "memory" in scale.phases:
            results["memory"], results["propagation"] = memory_and_propagation(run, small, big, fillers, scale)
        if "logs" in scale.phases:
            results["logs"] = logs(run, scale)
            log(f"logs: {results['logs']}")
    except BaseException as exc:
        failed = exc
        log(f"scale benchmark failed: {type(exc).__name__}: {str(exc)[-1500:]}")
    finally:
        run.stop_all()
        try:
            db.database_drop(settings)
            db.redis_flush(settings)
        except Exception as exc:
            log(f"cleanup: {exc}")
    results["elapsed_s"] = round(time.monotonic() - run.started, 1)
    if failed is not None:
        results["failed"] = f"{type(failed).__name__}: {str(failed)[-1500:]}"
    results["result_file"] = f"scale-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path = results_write(results, RESULTS_DIR)
    if failed is None and scale.full_size:
        doc_update(results)
        log(f"results: {path}; docs/performance.md updated")
    else:
        log(f"results: {path}; docs/performance.md left as it was (not a full-size run, or it failed)")
    print(summary_line(results), flush=True)
    return 1 if failed is not None else 0


if __name__ == "__main__":
    sys.exit(main())
