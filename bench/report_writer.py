"""Results of one run: the JSON file, the generated block of docs/performance.md, the summary line."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from bench.bench_settings import PERFORMANCE_DOC

BLOCK_START = "<!-- bench:results:start (written by bench/report_writer.py; edit outside this block) -->"
BLOCK_END = "<!-- bench:results:end -->"


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits + 1 if abs(value) < 1 else digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_num(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# The summary line's keys, in their order: the five of the performance targets, then the others.
SUMMARY_KEYS = (
    "overhead_p50_ms",
    "overhead_p99_ms",
    "litellm_throughput_ratio",
    "portkey_throughput_ratio",
    "feature_cost_ratio",
    "propagation_p99_ms",
)


def summary_line(results: dict[str, Any]) -> str:
    """``key=value`` for each of :data:`SUMMARY_KEYS`, ``nan`` for a figure this run lacks."""
    summary = results["summary"]

    def text(value: float | None) -> str:
        return "nan" if value is None or math.isnan(value) else f"{value:.3f}"

    return " ".join(f"{key}={text(summary.get(key))}" for key in SUMMARY_KEYS)


def _propagation_section(results: dict[str, Any]) -> list[str]:
    found = results.get("propagation") or {}
    out = ["", "### Configuration propagation under load", ""]
    if not found.get("changes"):
        return [*out, f"Not measured: {found.get('reason', 'not reached')}.", ""]
    met = "yes" if found["p99_ms"] is not None and found["p99_ms"] <= 1000 else "**no**"
    row = [found["changes"], found["p50_ms"], found["p99_ms"], found["max_ms"], found["mean_ms"], met]
    headers = ["changes", "p50 ms", "p99 ms", "max ms", "mean ms", "≤ 1,000 ms p99"]
    return [
        *out,
        f"{found['changes']} changes, one a second (a probe agent suspended, then resumed, through the management",
        f"API of each of two gateway processes in turn), while {found['load_connections']} connections ran chat",
        f"over both ({found['load_rps']:,} req/s, {found['load_errors']} errors). From each change's answer to",
        "the moment every process answered by it. The probe agent and its key, created through the API just",
        f"before, were refused on their first use {found['wrong_first_uses']} times (must be 0).",
        "",
        _table(headers, [row]),
        "",
    ]


def _load_section(results: dict[str, Any]) -> list[str]:
    out = ["### Chat completions, closed loop (wrk, one thread)", ""]
    rows = []
    # Only the one-connection runs are repeated (rounds); they are labelled with their round.
    runs_of = Counter((r["target"], r["scenario"], r["connections"]) for r in results["load"])
    for r in results["load"]:
        repeated = runs_of[(r["target"], r["scenario"], r["connections"])] > 1
        others = {k: v for k, v in (r.get("statuses") or {}).items() if k != "200"}
        rows.append(
            [
                r["target"],
                r["scenario"] + (f" (round {r.get('repeat', 0) + 1})" if repeated else ""),
                r["connections"],
                r["throughput_rps"],
                r["p50_ms"],
                r["p99_ms"],
                r["errors"],
                ", ".join(f"{k}: {v}" for k, v in sorted(others.items())) or "-",
                r["cpu_ms_per_request"],
                r.get("background_cpu_ms_per_request"),
                r["redis_cpu_us_per_request"],
                r["postgres_cpu_us_per_request"],
                r["lua_us_per_call"],
            ]
        )
    out.append(
        _table(
            [
                "target",
                "scenario",
                "conns",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "non-200 statuses",
                "CPU ms/req (SUT)",
                "of which Celery ms/req",
                "Redis CPU µs/req",
                "PostgreSQL CPU µs/req (bench db)",
                "Lua µs/call",
            ],
            rows,
        )
    )
    loads = results.get("machine_load") or []
    if loads:
        busiest = max(loads, key=lambda m: m["other_cores"])
        out += [
            "",
            f"Other processes on the machine used {min(m['other_cores'] for m in loads)}-"
            f"{busiest['other_cores']} of its {results['machine']['nproc']} cores during these runs "
            f"(`machine_load` in the JSON); the run waited {results.get('quiet_wait', {}).get('waited_s', 0)} s "
            f"for quiet first (quiet: {results.get('quiet_wait', {}).get('quiet')}).",
        ]
        steal = [m["steal_cores"] for m in loads if "steal_cores" in m]
        if steal:
            out += [
                f"The hypervisor took {min(steal)}-{max(steal)} cores away from this VM (steal time) during them;",
                "a slower host that steals nothing (another guest on the same cores' caches, say) shows only",
                "as slower direct and LiteLLM figures in the same run.",
            ]
    probe = results.get("limit_window_probe")
    if probe:
        out += [
            "",
            "Each gateway run starts with empty one-minute limit windows. What one admission costs once the",
            "windows hold a minute of traffic (the gateway's own Lua script, `bench/limit_window_probe.py`):",
            "",
            _table(
                ["entries per window", "admit p50 µs", "admit max µs", "admissions/s ceiling (one Redis)"],
                [
                    [p["window_entries"], p["admit_p50_us"], p["admit_max_us"], p["admits_per_second_ceiling"]]
                    for p in probe
                ],
            ),
        ]
    out += ["", "### Gateway overhead (gateway minus direct, same connections)", ""]
    out.append(
        _table(
            [
                "conns",
                "p50 overhead ms",
                "p99 overhead ms",
                "p50 ratio",
                "p99 ratio",
                "throughput gateway/direct",
                "each round: p50 / p99 overhead ms",
            ],
            [
                [
                    o["connections"],
                    o["p50_ms"],
                    o["p99_ms"],
                    o["p50_ratio"],
                    o["p99_ratio"],
                    o["throughput_ratio"],
                    _rounds_text(o),
                ]
                for o in results["overhead"]
            ],
        )
    )
    if any(o.get("rounds", 1) > 1 for o in results["overhead"]):
        out += [
            "",
            "Where a row had several rounds (a direct run, then a gateway run, repeated), its overhead is the",
            "median of the rounds' own overheads, and the ratios are those of the round with the median p50.",
        ]
    return out


def _dialects_section(results: dict[str, Any]) -> list[str]:
    """Chat and the client dialects measured turn about, each as a ratio to its chat baseline."""
    found = results.get("dialects") or {}
    out = ["", "### Client dialects beside chat, closed loop (wrk, one thread)", ""]
    if not found.get("rows"):
        return [*out, "Not measured in this run.", ""]
    rows = [
        [r["scenario"], r["path"], r["route"], r["connections"], r["throughput_rps"], r["p50_ms"], r["p99_ms"],
         r["errors"], r["cpu_ms_per_request"], r["overhead_p50_ms"], r["baseline"], r["cpu_ratio"], r["p50_ratio"]]
        for r in found["rows"]
    ]  # fmt: skip
    headers = [
        "scenario", "path", "route", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req (SUT)",
        "p50 overhead ms (over direct)", "against", "CPU/req ratio", "p50 ratio",
    ]  # fmt: skip
    return [
        *out,
        "Every scenario of `bench/request_scenarios.py` through the same gateway, mock and tenant, one run after",
        "the other at each connection count; the ratios divide a row's CPU a request and p50 by those of the",
        "chat row it is compared with (streamed with streamed) at the same connections. The target: a",
        "dialect's cost a request within 10% of chat's (`make bench-instructions` weighs it without noise).",
        "",
        _table(headers, rows),
        "",
    ]


def _signing_section(results: dict[str, Any]) -> list[str]:
    """The signed agent identity's share of a request's CPU (``bench/signing_cost.py``)."""
    found = results.get("signing") or {}
    out = ["", "### Signed agent identity: a request's CPU with and without it", ""]
    if "signing_cpu_pct" not in found:
        return [*out, "Not measured in this run.", ""]
    return [
        *out,
        f"`chat` (signed `X-Agent-Identity`) and `chat-unsigned` (a provider with `send_agent_identity` off) in "
        f"{found['rounds']} alternating round pairs at {found['connections']} connections, the gateway's CPU a "
        f"request: {_num(found['signed_cpu_ms'], 4)} ms signed, {_num(found['unsigned_cpu_ms'], 4)} ms unsigned "
        f"(pooled). Signing's share of a signed request: **{_num(found['signing_cpu_pct'])}%** (median of the "
        f"pairs' ratios {', '.join(map(str, found['ratios']))}), {_num(found['signing_cpu_pct_pooled'])}% pooled; "
        f"one token timed alone takes {_num(found.get('token_us'))} µs, "
        f"{_num(found.get('signing_cpu_pct_from_token'))}% of a signed request's CPU. Target: at most "
        f"{_num(found['target_pct'], 0)}%.",
        "",
    ]


def _rounds_text(row: dict[str, Any]) -> str:
    if row.get("rounds", 1) <= 1:
        return "-"
    return ", ".join(f"{p50} / {p99}" for p50, p99 in zip(row["p50_ms_each"], row["p99_ms_each"], strict=True))


def _streams_section(results: dict[str, Any]) -> list[str]:
    out = ["", "### Streams: time to first byte (aiohttp client, own process)", ""]
    out.append(
        _table(
            [
                "target",
                "concurrency",
                "requests",
                "errors",
                "TTFB p50 ms",
                "TTFB p99 ms",
                "total p50 ms",
                "total p99 ms",
            ],
            [
                [
                    s["target"],
                    s["concurrency"],
                    s["requests"],
                    s["errors"],
                    s["ttfb_p50_ms"],
                    s["ttfb_p99_ms"],
                    s["total_p50_ms"],
                    s["total_p99_ms"],
                ]
                for s in results["streams_ttfb"]
            ],
        )
    )
    out += _ttfb_ratio_lines(results)
    held = results.get("open_streams")
    if held:
        out += ["", f"### {held['streams']:,} concurrent open streams on one worker", ""]
        out.append(
            _table(
                [
                    "worker RSS before MB",
                    "worker RSS peak MB",
                    "RSS per stream KB",
                    "peak open",
                    "completed",
                    "errors",
                    "min events/stream",
                    "gap p99 s",
                    "gap max s",
                    "starved (gap > 3x interval)",
                ],
                [
                    [
                        held["rss_before_mb"],
                        held["rss_peak_mb"],
                        held["rss_per_stream_kb"],
                        held["peak_open"],
                        held["completed"],
                        held["errors"],
                        held["events_min"],
                        held["gap_p99_s"],
                        held["gap_max_s"],
                        held["starved"],
                    ]
                ],
            )
        )
    return out


def _ttfb_ratio_lines(results: dict[str, Any]) -> list[str]:
    ratios = results.get("streams_ttfb_ratios") or []
    if not ratios:
        return []
    return [
        "",
        "`bare` is the bare passthrough (`bench/bare_passthrough.py`, as many workers as the gateway). aidgate's",
        "time to first byte over the bare passthrough's (target: at most 1.5):",
        "",
        _table(
            ["concurrency", "aidgate TTFB p50 ms", "bare TTFB p50 ms", "p50 ratio", "p99 ratio"],
            [
                [
                    r["concurrency"],
                    r["aidgate_ttfb_p50_ms"],
                    r["bare_ttfb_p50_ms"],
                    r["ttfb_p50_ratio"],
                    r["ttfb_p99_ratio"],
                ]
                for r in ratios
            ],
        ),
    ]


def _rounds(count: int) -> str:
    return "one round" if count == 1 else f"{count} rounds"


def _peers_section(results: dict[str, Any]) -> list[str]:
    """A one-worker aidgate beside Portkey's one Node process and the bare passthrough."""
    peers = results.get("peers") or {}
    portkey = peers.get("portkey") or {}
    out = ["", "### One process each: Portkey's gateway and the bare passthrough", ""]
    if not peers.get("load"):
        return [*out, f"Not measured in this run: {portkey.get('reason', 'not reached')}.", ""]
    if portkey.get("available"):
        out.append(
            f"Portkey's gateway {portkey['version']} (npm `@portkey-ai/gateway`, Node {portkey.get('node', '-')}, "
            "one process, `build/start-server.js --headless`, provider and upstream by headers)."
        )
    else:
        out.append(f"Portkey's gateway was **not measured** in this run: {portkey.get('reason', 'unknown reason')}.")
    out += [
        "aidgate with one worker (the seeded tenant, every feature on) and the bare passthrough",
        "(`bench/bare_passthrough.py`: the same server, loop, parser and client pool, nothing else) with one",
        f"worker, at {peers['connections']} connections, turn about ({_rounds(peers['rounds'])}). Each ratio",
        "is taken within a round; the figure is the median of the rounds'.",
        "",
        _table(
            ["target", "round", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req"],
            [
                [
                    r["target"],
                    r.get("repeat", 0) + 1,
                    r["throughput_rps"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["errors"],
                    r["cpu_ms_per_request"],
                ]
                for r in peers["load"]
            ],
        ),
        "",
        _table(
            ["ratio", "median", "each round", "target"],
            [
                [
                    "throughput aidgate/Portkey (`portkey_throughput_ratio`)",
                    peers.get("portkey_throughput_ratio"),
                    ", ".join(map(str, peers.get("portkey_throughput_ratio_each") or [])) or "-",
                    "≥ 3",
                ],
                [
                    "CPU a request aidgate/bare (`feature_cost_ratio`)",
                    peers.get("feature_cost_ratio"),
                    ", ".join(map(str, peers.get("feature_cost_ratio_each") or [])) or "-",
                    "≤ 1.5",
                ],
                [
                    "throughput aidgate/bare",
                    peers.get("bare_throughput_ratio"),
                    ", ".join(map(str, peers.get("bare_throughput_ratio_each") or [])) or "-",
                    "-",
                ],
            ],
        ),
        "",
    ]
    return out


def _litellm_section(results: dict[str, Any]) -> list[str]:
    lite = results["litellm"]
    out = ["", "### Side by side with LiteLLM's proxy", ""]
    if not lite.get("available"):
        out.append(f"LiteLLM was **not measured** in this run: {lite.get('reason', 'unknown reason')}.")
        return out
    out.append(f"LiteLLM {lite['version']} (`litellm[proxy]`, {lite['workers']} workers, master key, no database).")
    out.append("")
    out.append(
        _table(
            [
                "conns",
                "LiteLLM req/s",
                "LiteLLM p50 ms",
                "LiteLLM p99 ms",
                "aidgate req/s",
                "aidgate p50 ms",
                "throughput aidgate/LiteLLM",
                "overhead p50 aidgate/LiteLLM",
            ],
            [
                [
                    c["connections"],
                    c["litellm_rps"],
                    c["litellm_p50_ms"],
                    c["litellm_p99_ms"],
                    c["aidgate_rps"],
                    c["aidgate_p50_ms"],
                    c["throughput_ratio"],
                    c["overhead_p50_ratio"],
                ]
                for c in lite["comparisons"]
            ],
        )
    )
    return out


def _logs_section(results: dict[str, Any]) -> list[str]:
    logs = results.get("logs")
    if not logs:
        return ["", "### Logs API at scale", "", "Skipped (BENCH_LOGS_ROWS=0)."]
    load = logs["load"]
    out = ["", f"### Logs API at scale ({logs['table_rows']:,} records)", ""]
    out.append(
        f"Loaded {load['rows']:,} records with COPY in {load['generate_and_copy_s']} s, indexes rebuilt in "
        f"{load['index_build_s']} s, ANALYZE {load['analyze_s']} s; table {load['table_mb']:,} MB, "
        f"indexes {load['indexes_mb']:,} MB."
    )
    rollup = logs.get("rollup") or {}
    if rollup:
        out.append(f"Usage rollup catch-up: {rollup.get('summary', '-')}.")
    served = "timed through the gateway" if logs.get("logs_api_served") else "not served yet: SQL equivalents timed"
    if logs.get("usage_api_served"):
        usage = "timed through the gateway"
    elif rollup.get("available") and not rollup.get("finished"):
        usage = "served, but not timed through the gateway (its rollups had not caught up); SQL equivalents timed"
    else:
        usage = "not served yet: SQL equivalents timed"
    out += [
        "",
        f"`GET /v1/logs`: {served}. `GET /v1/usage`: {usage}. The `sql` rows are the query the API",
        "runs (lists) or the aggregate over the raw records (usage, i.e. without rollups).",
        "",
    ]
    out.append(
        _table(
            ["query", "via", "what", "calls", "first ms", "p50 ms", "p95 ms", "max ms", "≤ 100 ms p95"],
            [
                [
                    t["name"],
                    t["via"],
                    t["what"],
                    t.get("samples"),
                    t["first_ms"],
                    t["p50_ms"],
                    t["p95_ms"],
                    t["max_ms"],
                    "yes" if t["p95_ms"] <= 100 else "not a target" if t["name"].startswith("users") else "**no**",
                ]
                for t in logs["timings"]
            ],
        )
    )
    return out


def markdown_block(results: dict[str, Any]) -> str:
    machine, versions = results["machine"], results["versions"]
    out = [
        BLOCK_START,
        "",
        f"## Latest results ({results['started_at']})",
        "",
        f"Machine: {machine['nproc']} cores ({machine['cpu_model']}), {machine['memory_gb']} GB RAM, "
        f"Linux {machine['kernel']}; load average at start {machine['loadavg_start']}, at end "
        f"{machine['loadavg_end']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        f"Code: `{results['git']['commit'][:12]}` with {results['git']['changed_files']} uncommitted changed files.",
        "",
        f"Command: `{results['command']}` ({results['settings_text']}); wall time {results['wall_seconds']:.0f} s.",
        "",
        f"Gateway: `gunicorn config.asgi:application -k {results['gateway']['worker_class']} "
        f"-w {results['gateway']['workers']}`, uvloop loaded: {results['gateway']['uvloop']}, httptools loaded: "
        f"{results['gateway']['httptools']}.",
        "",
        f"**Summary:** `{summary_line(results)}`",
        "",
    ]
    out += _load_section(results)
    out += _dialects_section(results)
    out += _signing_section(results)
    out += _streams_section(results)
    out += _litellm_section(results)
    out += _peers_section(results)
    out += _propagation_section(results)
    out += _logs_section(results)
    out += ["", f"Raw results: `bench/results/{results['result_file']}` (not committed).", "", BLOCK_END]
    return "\n".join(out)


def doc_block_replace(doc: Path, block: str, *, start: str, end: str, heading: str = "") -> None:
    """Put ``block`` (which opens with ``start`` and closes with ``end``) in place of the one
    between those markers in ``doc``, or at its end under ``heading`` the first time: a run
    rewrites its own block and never the prose around it."""
    text = doc.read_text() if doc.exists() else "# Performance\n\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + (heading + "\n\n" if heading else "") + block + "\n"
    doc.write_text(text)


def performance_doc_update(results: dict[str, Any], doc: Path = PERFORMANCE_DOC) -> None:
    doc_block_replace(doc, markdown_block(results), start=BLOCK_START, end=BLOCK_END)


def results_write(results: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / results["result_file"]
    path.write_text(json.dumps(results, indent=2, default=str))
    return path
