"""A/B: the working tree against another commit, both gateways up at once, runs interleaved.

Why: on a shared virtual machine the same code's p50 overhead at one connection moved by far
more between two runs forty minutes apart than most changes weigh (docs/performance-log.md,
2026-11-23 21:29-23:21). Two runs of ``make bench`` therefore cannot tell a small change from
the host's mood; two gateways measured turn about, A B B A A B …, within minutes of each
other, can.

``make bench-ab REF=<commit>`` (default ``HEAD``): the working tree is A, ``REF`` is B, checked
out as a git worktree under ``bench/results/`` and run with this venv. Both gateways share the
mock upstream, PostgreSQL, Redis and the seeded tenant, so ``REF`` must have the same
migrations as the working tree. Prints every run, then the medians; writes
``bench/results/ab-<stamp>.json``. ``docs/performance.md`` is left alone.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import bench_database as db
from bench.bench_settings import REPO, RESULTS_DIR, int_setting, settings_from_env
from bench.gateway_process import VENV_PYTHON, gateway_start
from bench.run_bench import CHAT_BODY, BenchRun, log


def worktree_of(ref: str) -> tuple[Path, str]:
    """A detached worktree of ``ref`` (reused when it exists), and the commit it is at."""
    commit = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],  # noqa: S607
        cwd=REPO, capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    path = RESULTS_DIR / f"ab-{commit[:12]}"
    if not (path / "manage.py").exists():
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, check=True, timeout=60)  # noqa: S607
        subprocess.run(  # noqa: S603
            ["git", "worktree", "add", "--detach", "--force", str(path), commit],  # noqa: S607
            cwd=REPO, capture_output=True, check=True, timeout=120,
        )  # fmt: skip
    compile_script = path / "scripts" / "compile_hot.py"
    stamp = path / ".local" / "compiled.stamp"
    if compile_script.exists() and not stamp.exists():
        # Built as the working tree's hot modules are (make compiled): A and B differ by code alone.
        # The script leaves the stamp once the worktree's extensions are built.
        subprocess.run([str(VENV_PYTHON), str(compile_script)], cwd=path, check=True, timeout=1200)  # noqa: S603
    return path, commit


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        field: round(statistics.median(r[field] for r in runs), 4)
        for field in ("p50_ms", "p99_ms", "cpu_ms_per_request", "throughput_rps")
    }


def main() -> int:
    settings = settings_from_env()
    ref = os.environ.get("BENCH_AB_REF", "").strip() or "HEAD"
    rounds = int_setting("BENCH_AB_ROUNDS", 6, minimum=1)
    connections = int_setting("BENCH_AB_CONNECTIONS", 1, minimum=1)
    other, commit = worktree_of(ref)
    run = BenchRun(settings)
    results: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    try:
        run.setup()
        log(f"A: working tree; B: {ref} ({commit[:12]}) from {other}")
        b_gateway = gateway_start(
            settings, run.env, name="gateway-b", port=settings.gateway_port + 7, workers=settings.workers, source=other
        )
        run.processes.append(b_gateway.process)
        sides = {
            "A": (run.gateway_request("/v1/chat/completions", CHAT_BODY), run.gateway),
            "B": (run.gateway_request("/v1/chat/completions", CHAT_BODY, base=b_gateway.url), b_gateway),
        }
        for request, _ in sides.values():
            run.warm(request)
        for index in range(rounds):
            # A B, B A, A B …: a drift of the host over the run falls on both sides alike.
            for label in ("A", "B") if index % 2 == 0 else ("B", "A"):
                request, gateway = sides[label]
                result = run.measured(
                    request, target="aidgate", scenario=f"ab-{label}", connections=connections,
                    sut_pids=[*gateway.all_pids(), *run.background_pids()], repeat=index,
                )  # fmt: skip
                results[label].append(asdict(result) | {"machine": run.machine_load[-1]})
    finally:
        run.stop_all()
        db.database_drop(settings)
        db.redis_flush(settings)
    summary = {label: medians(runs) for label, runs in results.items() if runs}
    report = {
        "started_at": run.started_at.isoformat(), "ref": ref, "commit": commit, "connections": connections,
        "rounds": rounds, "medians": summary, "runs": results,
    }  # fmt: skip
    path = RESULTS_DIR / f"ab-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    for label, figures in summary.items():
        log(f"{label} medians: " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    if len(summary) == 2:
        a, b = summary["A"], summary["B"]
        print(
            f"ab_p50_ms A={a['p50_ms']} B={b['p50_ms']} "
            f"ab_cpu_ms_per_request A={a['cpu_ms_per_request']} B={b['cpu_ms_per_request']}",
            flush=True,
        )
    log(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
