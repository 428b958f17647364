"""``make bench``: the whole benchmark (docs/performance.md), unattended, in one run.

Phases: a fresh database and Redis db → the mock upstream → the gateway (gunicorn, uvicorn
workers, production settings) → closed-loop load direct and through the gateway at each
connection count → streams (time to first byte, beside the bare passthrough's) → LiteLLM's
proxy at 1 and 64 connections → peers (a one-worker aidgate, the bare passthrough and Portkey's
gateway, turn about at 64 connections) → 1,000 open streams on one worker → optional py-spy
profile → 5M records and the logs API →
results JSON, docs/performance.md, and one summary line on stdout (the last line printed).

Started by ``bench/run.sh``, whose trap ends every child by pid and drops the database even
if this process dies.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import bench_database as db
from bench.bench_settings import REPO, RESULTS_DIR, BenchSettings, settings_from_env
from bench.gateway_process import (
    VENV_PYTHON,
    Gateway,
    bare_start,
    celery_start,
    django_command,
    gateway_env,
    gateway_start,
)
from bench.limit_window_probe import limit_window_probe
from bench.litellm_proxy import LiteLLMProxy, LiteLLMUnavailable, litellm_start
from bench.peer_comparison import peer_summary, ttfb_ratios
from bench.portkey_gateway import PortkeyGateway, PortkeyUnavailable, portkey_headers, portkey_start
from bench.processes import (
    ManagedProcess,
    cpu_by_process,
    cpu_delta,
    cpu_seconds,
    descendants_of,
    http_wait,
    process_start,
    processes_named,
    rss_bytes,
)
from bench.profile_gateway import profile_fold, py_spy_record
from bench.propagation import propagation_measure
from bench.report_writer import performance_doc_update, results_write, summary_line
from bench.request_scenarios import (
    CHAT_BODY,
    PROMPT,
    STREAM_BODY,
    RequestScenario,
    ratios_to_baseline,
    scenarios_choose,
)
from bench.signing_cost import Round, signing_summary
from bench.wrk_load import LoadRequest, LoadResult, wrk_run

EMBEDDINGS_BODY = json.dumps({"model": "text-embedding-3-small", "input": PROMPT}).encode()
SLOW_STREAM_BODY = json.dumps(
    {"model": "slow-stream", "messages": [{"role": "user", "content": "hold"}], "stream": True}
).encode()
SLOW_INTERVAL = 0.5
SLOW_EVENTS = 40


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _cpu_totals() -> tuple[float, float, float]:
    """(busy, interrupts, steal) CPU seconds of the whole machine since boot, from one read.

    Busy is user + nice + system time, which the kernel charges to processes; interrupt and
    softirq time (loopback networking at tens of thousands of requests/s) is charged to none;
    steal is the time the hypervisor gave to other guests while this one wanted to run.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    steal = fields[7] if len(fields) > 7 else 0
    return (fields[0] + fields[1] + fields[2]) / ticks, (fields[5] + fields[6]) / ticks, steal / ticks


def quiet_wait(max_seconds: float, *, threshold: float = 0.3, window: float = 3.0) -> dict[str, Any]:
    """Wait (bounded) until the rest of the machine uses under ``threshold`` cores.

    Nothing of the benchmark runs yet, so whatever is busy belongs to someone else; the
    figures of a run on a busy machine are flagged in its results rather than trusted.
    """
    started = time.monotonic()
    while True:
        busy_before, _, _ = _cpu_totals()
        time.sleep(window)
        busy_after, _, _ = _cpu_totals()
        cores = round((busy_after - busy_before) / window, 2)
        waited = time.monotonic() - started
        if cores < threshold or waited + window > max_seconds:
            return {"other_cores": cores, "waited_s": round(waited, 1), "quiet": cores < threshold}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Snapshot:
    """CPU counters around one measurement."""

    sut: float
    mock: float
    redis: dict[str, float]
    postgres: dict[int, float]
    children: float
    background: float
    busy: float
    interrupts: float
    steal: float
    wall: float = field(default_factory=time.monotonic)


class BenchRun:
    """One run: the processes it started, what it measured, and the phases that measure it."""

    def __init__(self, settings: BenchSettings) -> None:
        self.settings = settings
        self.started_at = datetime.now(UTC)
        self.started = time.monotonic()
        self.processes: list[ManagedProcess] = []
        self.env: dict[str, str] = {}
        self.seed: dict[str, str] = {}
        self.mock: ManagedProcess | None = None
        self.gateway: Gateway | None = None
        self.load: list[LoadResult] = []
        self.machine_load: list[dict[str, Any]] = []
        self.results: dict[str, Any] = {}
        self.loadavg_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    # --- setup -------------------------------------------------------------------------

    @property
    def mock_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.mock_port}"

    def setup(self) -> None:
        s = self.settings
        s.run_dir.mkdir(parents=True, exist_ok=True)
        self.results["quiet_wait"] = quiet_wait(s.quiet_wait_seconds)
        log(f"machine before the run: {self.results['quiet_wait']}")
        log(f"database {s.database} (recreated), Redis db {s.redis_db} (flushed)")
        db.database_recreate(s)
        db.redis_flush(s)
        self.env = gateway_env(s)
        django_command(s, self.env, "manage.py", "migrate", "--noinput")
        self.mock = self._start(
            "mock-upstream",
            [str(VENV_PYTHON), "-m", "bench.mock_upstream", "--port", str(s.mock_port), "--slow-interval",
             str(SLOW_INTERVAL), "--slow-events", str(SLOW_EVENTS), "--lifetime", "1800"],
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        http_wait(f"{self.mock_url}/v1/models", process=self.mock, timeout=30)
        seed_file = s.run_dir / "seed.json"
        django_command(s, self.env, "-m", "bench.seed_tenant", "--upstream", self.mock_url, "--out", str(seed_file))
        self.seed = json.loads(seed_file.read_text())
        log(f"seeded tenant {self.seed['tenant_id']}; starting the gateway ({s.workers} workers)")
        self.gateway = gateway_start(s, self.env, name="gateway", port=s.gateway_port, workers=s.workers)
        self.processes.append(self.gateway.process)
        self.celery = celery_start(s, self.env)
        self.processes.append(self.celery)

    def background_pids(self) -> list[int]:
        """The Celery worker (with beat) that seals the gateway's records and folds rollups."""
        celery = getattr(self, "celery", None)
        return [celery.pid, *descendants_of(celery.pid)] if celery is not None and celery.alive() else []

    def sut_pids(self) -> list[int]:
        """The gateway's master and workers, and the Celery worker that seals their records."""
        return [*self.gateway.all_pids(), *self.background_pids()]

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> ManagedProcess:
        process = process_start(name, argv, run_dir=self.settings.run_dir, env=env, cwd=REPO)
        self.processes.append(process)
        return process

    # --- requests ----------------------------------------------------------------------

    def gateway_request(self, path: str, body: bytes, base: str | None = None) -> LoadRequest:
        return LoadRequest(
            url=f"{base or self.gateway.url}{path}",
            body=body,
            headers=(
                ("Authorization", f"Bearer {self.seed['agent_key']}"),
                ("Content-Type", "application/json"),
                ("X-User-Email", "bench-user@example.com"),
            ),
        )

    def direct_request(self, path: str, body: bytes, base: str | None = None) -> LoadRequest:
        """To the mock, or to what forwards to it as it is (``base``: the bare passthrough)."""
        return LoadRequest(
            url=f"{base or self.mock_url}{path}",
            body=body,
            headers=(("Authorization", "Bearer mock-upstream-key"), ("Content-Type", "application/json")),
        )

    # --- measurement -------------------------------------------------------------------

    def _snapshot(self, sut_pids: list[int]) -> Snapshot:
        busy, interrupts, steal = _cpu_totals()
        return Snapshot(
            sut=cpu_seconds(sut_pids),
            mock=cpu_seconds([self.mock.pid]),
            redis=db.redis_stats(self.settings),
            postgres=cpu_by_process(processes_named("postgres", title_contains=self.settings.database)),
            children=_children_cpu(),
            background=cpu_seconds(self.background_pids()),
            busy=busy,
            interrupts=interrupts,
            steal=steal,
        )

    def measured(
        self,
        request: LoadRequest,
        *,
        target: str,
        scenario: str,
        connections: int,
        sut_pids: list[int],
        repeat: int = 0,
        into: list[LoadResult] | None = None,
    ) -> LoadResult:
        if target == "aidgate":
            db.limit_windows_clear(self.settings)
        before = self._snapshot(sut_pids)
        result = wrk_run(
            request, connections=connections, seconds=self.settings.seconds, work_dir=self.settings.run_dir,
            target=target, scenario=scenario,
        )  # fmt: skip
        after = self._snapshot(sut_pids)
        result.repeat = repeat
        n = max(1, result.requests)
        result.cpu_ms_per_request = round((after.sut - before.sut) * 1000 / n, 4)
        if target == "aidgate":
            result.background_cpu_ms_per_request = round((after.background - before.background) * 1000 / n, 4)
        result.redis_cpu_us_per_request = round((after.redis["cpu_seconds"] - before.redis["cpu_seconds"]) * 1e6 / n, 1)
        postgres = cpu_delta(before.postgres, after.postgres)
        result.postgres_cpu_us_per_request = round(postgres * 1e6 / n, 1)
        calls = after.redis["evalsha_calls"] - before.redis["evalsha_calls"]
        # Redis's counters are server-wide: only the gateway's runs, where its calls dominate, say much.
        if calls and target == "aidgate":
            result.lua_us_per_call = round((after.redis["evalsha_usec"] - before.redis["evalsha_usec"]) / calls, 1)
        # What the rest of the machine did meanwhile: a busy neighbour skews every figure.
        elapsed = after.wall - before.wall
        ours = (
            (after.sut - before.sut) + (after.mock - before.mock) + postgres
            + (after.redis["cpu_seconds"] - before.redis["cpu_seconds"]) + (after.children - before.children)
        )  # fmt: skip
        if target == "direct":
            ours -= after.sut - before.sut  # the mock is the system under test there
        self.machine_load.append(
            {"run": f"{target}/{scenario}/{connections}", "busy_cores": round((after.busy - before.busy) / elapsed, 2),
             "other_cores": round(max(0.0, (after.busy - before.busy) - ours) / elapsed, 2),
             "interrupt_cores": round((after.interrupts - before.interrupts) / elapsed, 2),
             "steal_cores": round((after.steal - before.steal) / elapsed, 2)}
        )  # fmt: skip
        log(
            f"{target:8} {scenario:10} c={connections:<4} {result.throughput_rps:>9,.0f} req/s  "
            f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}  "
            f"cpu {result.cpu_ms_per_request} ms/req  other load {self.machine_load[-1]['other_cores']} cores"
        )
        # The chat table and its overhead pairs read self.load; the dialects phase keeps its own.
        (self.load if into is None else into).append(result)
        return result

    def warm(self, request: LoadRequest, connections: int = 16) -> None:
        if self.settings.warmup_seconds:
            wrk_run(
                request, connections=connections, seconds=self.settings.warmup_seconds,
                work_dir=self.settings.run_dir, target="warmup", scenario="warmup",
            )  # fmt: skip

    # --- phases ------------------------------------------------------------------------

    def proxy_phase(self) -> None:
        chat_direct = self.direct_request("/v1/chat/completions", CHAT_BODY)
        chat_gateway = self.gateway_request("/v1/chat/completions", CHAT_BODY)
        self.warm(chat_direct)
        self.warm(chat_gateway)
        check = self.gateway.event_loop_check()
        self.results["gateway"] = {"workers": self.settings.workers, "worker_class": self.gateway.worker_class, **check}
        mock_pids = [self.mock.pid]
        for connections in self.settings.concurrency:
            # One connection is where the machine's scheduling shows most (which core wakes which
            # process): its pairs of runs are repeated and the overhead is their median.
            rounds = self.settings.one_connection_rounds if connections == 1 else 1
            for repeat in range(rounds):
                self.measured(
                    chat_direct, target="direct", scenario="chat", connections=connections, sut_pids=mock_pids,
                    repeat=repeat,
                )  # fmt: skip
                self.measured(
                    chat_gateway, target="aidgate", scenario="chat", connections=connections,
                    sut_pids=self.sut_pids(), repeat=repeat,
                )  # fmt: skip
            windows = db.redis_zset_sizes(self.settings, "aid:*")
            self.results.setdefault("limit_windows", []).append({"after_connections": connections, **windows})
        c = self.settings.comparison_connections
        self.measured(
            self.direct_request("/v1/embeddings", EMBEDDINGS_BODY), target="direct", scenario="embeddings",
            connections=c, sut_pids=mock_pids,
        )  # fmt: skip
        self.measured(
            self.gateway_request("/v1/embeddings", EMBEDDINGS_BODY), target="aidgate", scenario="embeddings",
            connections=c, sut_pids=self.sut_pids(),
        )  # fmt: skip
        self.results["record_outcomes"] = db.record_outcomes(self.settings)
        if self.results["record_outcomes"]:
            log(f"recorded outcomes other than 200: {self.results['record_outcomes']}")
        self.results["limit_window_probe"] = limit_window_probe(self.settings)
        for row in self.results["limit_window_probe"]:
            log(f"limit window probe: {row}")

    def dialects_phase(self) -> None:
        """Chat and the client dialects (``/v1/messages``, ``/v1/responses``), plain and streamed,
        through the chat form and natively, turn about at each of ``BENCH_DIALECT_CONNECTIONS``.

        Why turn about: a dialect's figures are read as ratios to chat's (CPU a request, p50), and
        only runs taken minutes apart on a shared host drift by more than the 10% target. A direct
        run precedes each gateway run whose request the mock answers as it came (chat, and the
        native routes), so the gateway's overhead is there too; a chat-form request's upstream
        call is chat's.
        """
        s = self.settings
        scenarios = scenarios_choose(",".join(s.dialect_scenarios))
        for scenario in scenarios:
            self.warm(self.gateway_request(scenario.path, scenario.body), connections=4)
        load: list[LoadResult] = []
        rows: list[dict[str, Any]] = []
        for connections in s.dialect_connections:
            runs: dict[str, tuple[LoadResult, LoadResult | None]] = {}
            for scenario in scenarios:
                direct = None
                if scenario.direct:
                    direct = self.measured(
                        self.direct_request(scenario.path, scenario.body), target="direct", scenario=scenario.name,
                        connections=connections, sut_pids=[self.mock.pid], into=load,
                    )  # fmt: skip
                ours = self.measured(
                    self.gateway_request(scenario.path, scenario.body), target="aidgate", scenario=scenario.name,
                    connections=connections, sut_pids=self.sut_pids(), into=load,
                )  # fmt: skip
                runs[scenario.name] = (ours, direct)
            rows += dialect_rows(scenarios, runs, connections)
        self.results["dialects"] = {"rows": rows, "load": [r.as_dict() for r in load]}
        for row in rows:
            log(
                f"dialects c={row['connections']:<3} {row['scenario']:24} ratio to {row['baseline']}: "
                f"CPU a request {row['cpu_ratio']}, p50 {row['p50_ratio']}"
            )

    def signing_phase(self) -> None:
        """Signed agent identity against none (``bench/signing_cost.py``): ``chat`` and
        ``chat-unsigned`` in alternating rounds, and the signature timed alone."""
        s = self.settings
        signed, unsigned = (
            self.gateway_request(scenario.path, scenario.body) for scenario in scenarios_choose("chat-unsigned")
        )
        self.warm(signed, connections=4)
        self.warm(unsigned, connections=4)
        load: list[LoadResult] = []
        rounds: list[Round] = []
        for n in range(s.signing_rounds):
            order = [("chat", signed), ("chat-unsigned", unsigned)]
            runs = {}
            for name, request in order if n % 2 == 0 else order[::-1]:
                runs[name] = self.measured(
                    request, target="aidgate", scenario=name, connections=s.signing_connections,
                    sut_pids=self.gateway.all_pids(), repeat=n, into=load,
                )  # fmt: skip
            a, b = runs["chat"], runs["chat-unsigned"]
            rounds.append(Round(a.cpu_ms_per_request or 0.0, a.requests, b.cpu_ms_per_request or 0.0, b.requests))
        timed = json.loads(django_command(s, self.env, "-m", "bench.signature_time").strip().splitlines()[-1])
        summary = signing_summary(rounds, token_us=timed["token_us"])
        self.results["signing"] = {**summary, "connections": s.signing_connections, "load": [r.as_dict() for r in load]}
        log(f"signing: {summary}")

    def _stream_client(self, mode: str, request: LoadRequest, extra: list[str], timeout: float) -> dict[str, Any]:
        body_file = self.settings.run_dir / f"stream-body-{mode}.json"
        headers_file = self.settings.run_dir / f"stream-headers-{mode}.json"
        body_file.write_bytes(request.body)
        headers_file.write_text(json.dumps(dict(request.headers)))
        headers_file.chmod(0o600)
        completed = subprocess.run(  # noqa: S603
            [str(VENV_PYTHON), "-m", "bench.stream_clients", mode, "--url", request.url, "--body-file",
             str(body_file), "--headers-file", str(headers_file), *extra],
            cwd=REPO, capture_output=True, text=True, check=False, timeout=timeout,
        )  # fmt: skip
        if completed.returncode != 0:
            raise RuntimeError(f"stream client {mode} failed: {completed.stderr[-2000:]}")
        return json.loads(completed.stdout.strip().splitlines()[-1])

    def streams_phase(self) -> None:
        """Time to first byte direct, through the gateway and through the bare passthrough (as
        many workers as the gateway), turn about; aidgate's over the bare one's is the target."""
        s = self.settings
        rows = []
        bare = bare_start(s, self.mock_url, workers=s.workers)
        self.processes.append(bare.process)
        try:
            for concurrency, requests in ((1, 300), (16, 1600)):
                for target, request in (
                    ("direct", self.direct_request("/v1/chat/completions", STREAM_BODY)),
                    ("aidgate", self.gateway_request("/v1/chat/completions", STREAM_BODY)),
                    ("bare", self.direct_request("/v1/chat/completions", STREAM_BODY, base=bare.url)),
                ):
                    extra = ["--requests", str(requests), "--concurrency", str(concurrency)]
                    db.limit_windows_clear(s)
                    result = self._stream_client("ttfb", request, extra, timeout=300)
                    rows.append({"target": target, **result})
                    log(
                        f"stream   {target:8} c={concurrency:<3} TTFB p50 {result['ttfb_p50_ms']:.2f} ms "
                        f"p99 {result['ttfb_p99_ms']:.2f} ms errors {result['errors']}"
                    )
        finally:
            bare.process.stop()
        self.results["streams_ttfb"] = rows
        self.results["streams_ttfb_ratios"] = ttfb_ratios(rows)
        for row in self.results["streams_ttfb_ratios"]:
            log(f"stream   TTFB aidgate/bare c={row['concurrency']}: p50 {row['ttfb_p50_ratio']}, "
                f"p99 {row['ttfb_p99_ratio']}")  # fmt: skip

    def propagation_phase(self) -> None:
        """A change every second under load, and the time until every process answers by it."""
        s = self.settings
        if not s.propagation_changes:
            self.results["propagation"] = {"changes": 0, "reason": "disabled with BENCH_PROPAGATION_CHANGES=0"}
            return
        ports = (s.propagation_port, s.propagation_port + 1)
        gateways = []
        try:
            for index, port in enumerate(ports):
                gateway = gateway_start(s, self.env, name=f"gateway-propagation-{index}", port=port, workers=1)
                self.processes.append(gateway.process)
                gateways.append(gateway)
            log(f"propagation: {s.propagation_changes} changes, one a second, under {s.comparison_connections} "
                "connections over two processes")  # fmt: skip
            measured = propagation_measure(
                ports=ports, org_key=self.seed["org_key"], agent_key=self.seed["agent_key"],
                changes=s.propagation_changes, connections=s.comparison_connections, work_dir=s.run_dir,
            )  # fmt: skip
        finally:
            for gateway in gateways:
                gateway.process.stop()
        self.results["propagation"] = measured.summary()
        log(f"propagation: {self.results['propagation']}")

    def litellm_phase(self) -> None:
        s = self.settings
        info: dict[str, Any] = {"available": False, "workers": s.workers}
        self.results["litellm"] = info
        if not s.litellm:
            info["reason"] = "disabled with BENCH_LITELLM=false"
            return
        proxy: LiteLLMProxy | None = None
        try:
            log(f"LiteLLM {s.litellm_version}: installing on first use, then starting ({s.workers} workers)")
            proxy = litellm_start(s, self.mock_url, s.workers)
            self.processes.append(proxy.process)
            request = LoadRequest(
                url=f"{proxy.url}/v1/chat/completions",
                body=CHAT_BODY,
                headers=(("Authorization", f"Bearer {proxy.master_key}"), ("Content-Type", "application/json")),
            )
            # Its first requests after a fresh install can take seconds (imports, cost map):
            # probe a few times before calling it unavailable.
            for _ in range(6):
                self.warm(request)
                probe = wrk_run(request, connections=1, seconds=2, work_dir=s.run_dir, target="probe", scenario="probe")
                if probe.requests and probe.errors_status < probe.requests:
                    break
            else:
                raise LiteLLMUnavailable(
                    f"LiteLLM answered no request successfully (last probe: {probe.requests} requests, "
                    f"statuses {probe.statuses}): {proxy.process.log_tail(10)}"
                )
            pids = [proxy.process.pid, *descendants_of(proxy.process.pid)]
            comparisons = []
            for connections in sorted({1, s.comparison_connections}):
                lite = self.measured(request, target="litellm", scenario="chat", connections=connections, sut_pids=pids)
                comparisons.append(self._comparison(lite, connections))
            info.update({"available": True, "version": proxy.version, "comparisons": comparisons})
        except (LiteLLMUnavailable, RuntimeError, OSError, subprocess.SubprocessError) as exc:
            info["reason"] = str(exc)[:800]
            log(f"LiteLLM not measured: {info['reason']}")
        finally:
            if proxy is not None:
                proxy.process.stop()

    def peers_phase(self) -> None:
        """aidgate with one worker, the bare passthrough with one worker and Portkey's one Node
        process, turn about at ``BENCH_COMPARISON_CONNECTIONS`` for ``BENCH_PEER_ROUNDS`` rounds.

        One process each: Portkey's gateway is one Node process, and CPU a request is compared
        between like shapes. Portkey missing (disabled, no npm, a failed install) leaves its
        row unavailable with the reason; the bare passthrough is this repository's and must run.
        """
        s = self.settings
        connections = s.comparison_connections
        portkey_info: dict[str, Any] = {"available": False, "version": s.portkey_version}
        info: dict[str, Any] = {"connections": connections, "rounds": s.peer_rounds, "portkey": portkey_info}
        self.results["peers"] = info
        started: list[ManagedProcess] = []
        portkey: PortkeyGateway | None = None
        try:
            one = gateway_start(s, self.env, name="gateway-one-worker", port=s.one_worker_port, workers=1)
            started.append(one.process)
            bare = bare_start(s, self.mock_url, workers=1)
            started.append(bare.process)
            self.processes.extend(started)
            info["aidgate"] = {"workers": 1, **one.event_loop_check()}
            info["bare"] = {"workers": 1, **bare.event_loop_check()}
            targets: list[tuple[str, LoadRequest, Any]] = [
                ("aidgate", self.gateway_request("/v1/chat/completions", CHAT_BODY, base=one.url),
                 lambda: [*one.all_pids(), *self.background_pids()]),
                ("bare", self.direct_request("/v1/chat/completions", CHAT_BODY, base=bare.url), bare.all_pids),
            ]  # fmt: skip
            if not s.portkey:
                portkey_info["reason"] = "disabled with BENCH_PORTKEY=false"
            else:
                try:
                    log(f"Portkey's gateway {s.portkey_version}: installing on first use (npm), then starting")
                    portkey = portkey_start(s)
                    started.append(portkey.process)
                    self.processes.append(portkey.process)
                    request = LoadRequest(
                        url=f"{portkey.url}/v1/chat/completions", body=CHAT_BODY,
                        headers=portkey_headers(self.mock_url, "mock-upstream-key"),
                    )  # fmt: skip
                    self.warm(request)
                    probe = wrk_run(request, connections=1, seconds=2, work_dir=s.run_dir, target="probe",
                                    scenario="probe")  # fmt: skip
                    if not probe.requests or probe.errors_status >= probe.requests:
                        raise PortkeyUnavailable(
                            f"Portkey answered no request successfully (statuses {probe.statuses}): "
                            f"{portkey.process.log_tail(10)}"
                        )
                    pid = portkey.process.pid
                    targets.append(("portkey", request, lambda: [pid, *descendants_of(pid)]))
                    portkey_info.update(available=True, version=portkey.version, node=portkey.node_version)
                except (PortkeyUnavailable, RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    portkey_info["reason"] = str(exc)[:800]
                    log(f"Portkey not measured: {portkey_info['reason']}")
                    if portkey is not None:
                        portkey.process.stop()
            for _, request, _ in targets[:2]:
                self.warm(request)
            load: list[LoadResult] = []
            for repeat in range(s.peer_rounds):
                for target, request, pids in targets:
                    self.measured(
                        request, target=target, scenario="chat-1proc", connections=connections, sut_pids=pids(),
                        repeat=repeat, into=load,
                    )  # fmt: skip
            info["load"] = [r.as_dict() for r in load]
            info.update(peer_summary(load))
            log(
                f"peers c={connections}: aidgate/Portkey throughput {info['portkey_throughput_ratio']} "
                f"{info['portkey_throughput_ratio_each']}, aidgate/bare CPU a request {info['feature_cost_ratio']} "
                f"{info['feature_cost_ratio_each']}"
            )
        finally:
            for process in started:
                process.stop()

    def _result(self, target: str, scenario: str, connections: int) -> LoadResult | None:
        """The run, or of repeated runs the one with the median p50."""
        runs = [r for r in self.load if (r.target, r.scenario, r.connections) == (target, scenario, connections)]
        return sorted(runs, key=lambda r: r.p50_ms)[(len(runs) - 1) // 2] if runs else None

    def _pairs(self, connections: int) -> list[tuple[LoadResult, LoadResult]]:
        """(gateway, direct) chat runs at these connections, paired by repeat."""
        runs = {(r.target, r.repeat): r for r in self.load if (r.scenario, r.connections) == ("chat", connections)}
        repeats = sorted(i for t, i in runs if t == "aidgate" and ("direct", i) in runs)
        return [(runs[("aidgate", i)], runs[("direct", i)]) for i in repeats]

    def _comparison(self, lite: LoadResult, connections: int) -> dict[str, Any]:
        ours = self._result("aidgate", "chat", connections)
        direct = self._result("direct", "chat", connections)
        row: dict[str, Any] = {
            "connections": connections, "litellm_rps": lite.throughput_rps, "litellm_p50_ms": lite.p50_ms,
            "litellm_p99_ms": lite.p99_ms, "litellm_errors": lite.errors,
            "aidgate_rps": ours.throughput_rps if ours else None, "aidgate_p50_ms": ours.p50_ms if ours else None,
            "throughput_ratio": None, "overhead_p50_ratio": None,
        }  # fmt: skip
        if ours and lite.throughput_rps:
            row["throughput_ratio"] = round(ours.throughput_rps / lite.throughput_rps, 2)
        if ours and direct:
            lite_overhead = lite.p50_ms - direct.p50_ms
            if lite_overhead > 0:
                row["overhead_p50_ratio"] = round((ours.p50_ms - direct.p50_ms) / lite_overhead, 4)
        return row

    def open_streams_phase(self) -> None:
        s = self.settings
        if not s.open_streams:
            return
        log(f"{s.open_streams} open streams on a one-worker gateway")
        gateway = gateway_start(s, self.env, name="gateway-streams", port=s.stream_gateway_port, workers=1)
        self.processes.append(gateway.process)
        try:
            worker = gateway.worker_pids()[0]
            warm = self.gateway_request("/v1/chat/completions", CHAT_BODY, base=gateway.url)
            wrk_run(warm, connections=4, seconds=2, work_dir=s.run_dir, target="warmup", scenario="warmup")
            time.sleep(1)
            db.limit_windows_clear(s)
            rss_before = rss_bytes(worker)
            status_file = s.run_dir / "open-streams-status.json"
            request = self.gateway_request("/v1/chat/completions", SLOW_STREAM_BODY, base=gateway.url)
            body_file, headers_file = s.run_dir / "hold-body.json", s.run_dir / "hold-headers.json"
            body_file.write_bytes(request.body)
            headers_file.write_text(json.dumps(dict(request.headers)))
            headers_file.chmod(0o600)
            client = subprocess.Popen(  # noqa: S603
                [str(VENV_PYTHON), "-m", "bench.stream_clients", "hold", "--url", request.url, "--body-file",
                 str(body_file), "--headers-file", str(headers_file), "--streams", str(s.open_streams),
                 "--ramp-seconds", "3", "--status-file", str(status_file), "--starve-seconds",
                 str(3 * SLOW_INTERVAL), "--expected-events", str(SLOW_EVENTS + 3)],
                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            peak_rss, peak_open, rss_at_peak_open = rss_before, 0, rss_before
            deadline = time.monotonic() + SLOW_INTERVAL * SLOW_EVENTS + 90
            while client.poll() is None and time.monotonic() < deadline:
                rss = rss_bytes(worker)
                peak_rss = max(peak_rss, rss)
                try:
                    open_now = json.loads(status_file.read_text())["open"]
                except (OSError, ValueError, KeyError):
                    open_now = 0
                if open_now >= peak_open:
                    peak_open, rss_at_peak_open = open_now, rss
                time.sleep(0.25)
            if client.poll() is None:
                client.kill()
            out, err = client.communicate(timeout=30)
            if client.returncode != 0:
                raise RuntimeError(f"open-streams client failed: {err[-2000:]}")
            held = json.loads(out.strip().splitlines()[-1])
            held.update(
                {
                    "rss_before_mb": round(rss_before / 2**20, 1),
                    "rss_peak_mb": round(peak_rss / 2**20, 1),
                    "rss_at_peak_open_mb": round(rss_at_peak_open / 2**20, 1),
                    "rss_per_stream_kb": round((peak_rss - rss_before) / 1024 / max(1, s.open_streams), 1),
                    "peak_open": peak_open,
                }
            )
            self.results["open_streams"] = held
            log(
                f"open streams: peak {peak_open} open, worker RSS {held['rss_before_mb']} → {held['rss_peak_mb']} MB, "
                f"starved {held['starved']}, errors {held['errors']}, max gap {held['gap_max_s']} s"
            )
        finally:
            gateway.process.stop()

    def profile_phase(self) -> None:
        if not self.settings.profile:
            return
        s = self.settings
        connections = s.profile_connections
        seconds = max(5, int(s.seconds))
        # Every worker: with fewer connections than workers, which one serves them is up to the kernel.
        raws = {pid: s.run_dir / f"profile-gateway-worker-{pid}.txt" for pid in self.gateway.worker_pids()}
        log(f"profiling workers {sorted(raws)} for {seconds} s at {connections} connections (py-spy, GIL samples)")
        spies = {pid: py_spy_record(pid, seconds, raw) for pid, raw in raws.items()}
        time.sleep(0.5)
        wrk_run(
            self.gateway_request("/v1/chat/completions", CHAT_BODY), connections=connections, seconds=seconds + 1,
            work_dir=s.run_dir, target="profile", scenario="profile",
        )  # fmt: skip
        folds: dict[int, dict] = {}
        errors: list[str] = []
        for pid, spy in spies.items():
            _, err = spy.communicate(timeout=seconds + 60)
            if spy.returncode != 0 or not raws[pid].exists():
                errors.append(err.decode(errors="replace")[-800:])
                continue
            folds[pid] = {"raw_file": raws[pid].name, "connections": connections, **profile_fold(raws[pid])}
        if not folds:
            self.results["profile"] = {"error": "\n".join(errors)}
            return
        # The busiest worker: the one that served the connections.
        self.results["profile"] = max(folds.values(), key=lambda fold: fold["samples"])

    def logs_phase(self) -> None:
        s = self.settings
        if not s.logs_rows:
            return
        seed_file = s.run_dir / "seed.json"
        time.sleep(2.5)  # the in-process sealer seals what the load phases recorded
        common = ["--rows", str(s.logs_rows), "--seed", str(seed_file), "--gateway", self.gateway.url]
        log(f"loading {s.logs_rows:,} records with COPY")
        load_out = s.run_dir / f"logs-load-{s.logs_rows}.json"
        # COPY and the index builds over the whole table (about 60 s a million rows here), the
        # rollups' catch-up beside the index builds (bench/logs_at_scale.py's rows_load).
        table_millions = s.logs_rows / 1e6
        django_command(
            s, self.env, "-m", "bench.logs_at_scale", "load", *common,
            "--rollup-seconds", str(s.rollup_seconds), "--out", str(load_out),
            timeout=max(900.0, 600 + 150 * table_millions) + s.rollup_seconds,
        )  # fmt: skip
        logs: dict[str, Any] = json.loads(load_out.read_text())
        log(f"loaded: { {k: v for k, v in logs['load'].items() if k != 'rollup'} }")
        logs["rollup"] = self._rollup_summary(logs["load"].pop("rollup", None) or {})
        log(f"usage rollups: {logs['rollup'].get('summary')}")
        time_out = s.run_dir / f"logs-time-{s.logs_rows}.json"
        usage_flag = ["--usage-over-http"] if logs["rollup"].get("finished") else []
        django_command(
            s, self.env, "-m", "bench.logs_at_scale", "time", *common, "--repeats", str(s.logs_repeats),
            "--out", str(time_out), *usage_flag, timeout=900,
        )  # fmt: skip
        logs.update(json.loads(time_out.read_text()))
        for t in logs["timings"]:
            log(f"logs {t['name']:28} {t['via']:4} p95 {t['p95_ms']:9.2f} ms (first {t['first_ms']:.1f} ms)")
        self.results["logs"] = logs

    def _rollup_summary(self, run: dict[str, Any]) -> dict[str, Any]:
        """How far and how fast the loader's rollup catch-up got (it ran beside the index builds,
        bounded by ``BENCH_ROLLUP_SECONDS``)."""
        if not run:
            return {"available": False, "finished": False, "summary": "not run"}
        if not run.get("available", True):
            return {"available": False, "finished": False, "summary": "no usage rollups in this code"}
        progress = db.rollup_progress(self.settings, self.seed["tenant_id"])
        elapsed = float(run.get("seconds") or 0.0)
        folded = progress["through_seq"]  # the loader started the tenant's rollups again (rows_load)
        rate = folded / elapsed if elapsed else 0.0
        finished = bool(run.get("finished")) and progress["through_seq"] >= progress["head_seq"]
        summary = (
            f"{'finished' if finished else f'stopped after {elapsed:.0f} s'}: {folded:,} records folded "
            f"(watermark {progress['through_seq']:,} of {progress['head_seq']:,}) in {elapsed:.0f} s beside the "
            f"index builds ({rate:,.0f} records/s), {progress['rollup_rows']:,} rollup rows"
        )
        if not finished:
            summary += "; /v1/usage not timed over HTTP (each call would fold the unrolled tail), SQL timed instead"
        return {"available": True, "finished": finished, "seconds": round(elapsed, 1), "folded": folded,
                "records_per_second": round(rate), **progress, "summary": summary}  # fmt: skip

    # --- results -----------------------------------------------------------------------

    def overhead(self) -> list[dict[str, Any]]:
        rows = []
        for connections in self.settings.concurrency:
            pairs = self._pairs(connections)
            if not pairs:
                continue
            # Each pair's own overhead (gateway minus the direct run just before it), then the median.
            p50s = [ours.p50_ms - direct.p50_ms for ours, direct in pairs]
            p99s = [ours.p99_ms - direct.p99_ms for ours, direct in pairs]
            ours, direct = self._result("aidgate", "chat", connections), self._result("direct", "chat", connections)
            rows.append(
                {
                    "connections": connections,
                    "rounds": len(pairs),
                    "p50_ms_each": [round(v, 3) for v in p50s],
                    "p99_ms_each": [round(v, 3) for v in p99s],
                    "p50_ms": round(statistics.median(p50s), 3),
                    "p99_ms": round(statistics.median(p99s), 3),
                    "p50_ratio": round(ours.p50_ms / direct.p50_ms, 1) if direct.p50_ms else None,
                    "p99_ratio": round(ours.p99_ms / direct.p99_ms, 1) if direct.p99_ms else None,
                    "throughput_ratio": round(ours.throughput_rps / direct.throughput_rps, 4)
                    if direct.throughput_rps
                    else None,
                }
            )
        return rows

    def finish(self) -> dict[str, Any]:
        overhead = self.overhead()
        one = next((o for o in overhead if o["connections"] == 1), None)
        ratio = math.nan
        peers = self.results.get("peers", {})
        for row in self.results.get("litellm", {}).get("comparisons", []):
            if row["connections"] == self.settings.comparison_connections and row["throughput_ratio"] is not None:
                ratio = row["throughput_ratio"]
        stamp = self.started_at.strftime("%Y%m%dT%H%M%SZ")
        results = {
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "wall_seconds": round(time.monotonic() - self.started, 1),
            "result_file": f"{stamp}.json",
            "command": command_text(),
            "settings_text": settings_text(self.settings),
            "machine": machine_info(self.loadavg_start),
            "versions": versions(self.settings),
            "git": git_state(),
            "load": [r.as_dict() for r in self.load],
            "machine_load": self.machine_load,
            "overhead": overhead,
            "streams_ttfb": self.results.get("streams_ttfb", []),
            "streams_ttfb_ratios": self.results.get("streams_ttfb_ratios", []),
            "litellm": self.results.get("litellm", {"available": False, "reason": "not reached"}),
            "peers": peers or {"portkey": {"available": False, "reason": "not reached"}},
            "propagation": self.results.get("propagation", {"changes": 0, "reason": "not reached"}),
            "summary": {
                "overhead_p50_ms": one["p50_ms"] if one else math.nan,
                "overhead_p99_ms": one["p99_ms"] if one else math.nan,
                "litellm_throughput_ratio": ratio,
                "portkey_throughput_ratio": peers.get("portkey_throughput_ratio", math.nan),
                "feature_cost_ratio": peers.get("feature_cost_ratio", math.nan),
                "propagation_p50_ms": self.results.get("propagation", {}).get("p50_ms"),
                "propagation_p99_ms": self.results.get("propagation", {}).get("p99_ms"),
            },
            **{
                k: v
                for k, v in self.results.items()
                if k not in ("streams_ttfb", "streams_ttfb_ratios", "litellm", "peers", "propagation")
            },
        }
        return results

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        # The run's secrets (keys of a database about to be dropped) do not outlive it.
        for pattern in ("seed.json", "*headers*.json", "litellm.yaml"):
            for path in self.settings.run_dir.glob(pattern):
                path.unlink(missing_ok=True)


def dialect_rows(
    scenarios: list[RequestScenario], runs: dict[str, tuple[LoadResult, LoadResult | None]], connections: int
) -> list[dict[str, Any]]:
    """One row per scenario at one connection count: its gateway figures, its overhead over the
    direct run when it had one, and its CPU a request and p50 as ratios to its chat baseline's."""
    cpu = ratios_to_baseline({name: ours.cpu_ms_per_request or 0.0 for name, (ours, _) in runs.items()})
    p50 = ratios_to_baseline({name: ours.p50_ms for name, (ours, _) in runs.items()})
    rows = []
    for scenario in scenarios:
        ours, direct = runs[scenario.name]
        rows.append(
            {"scenario": scenario.name, "path": scenario.path, "route": scenario.route, "stream": scenario.stream,
             "baseline": scenario.baseline, "connections": connections, "requests": ours.requests,
             "throughput_rps": ours.throughput_rps, "p50_ms": ours.p50_ms, "p99_ms": ours.p99_ms,
             "errors": ours.errors, "cpu_ms_per_request": ours.cpu_ms_per_request,
             "direct_p50_ms": direct.p50_ms if direct else None,
             "overhead_p50_ms": round(ours.p50_ms - direct.p50_ms, 3) if direct else None,
             "cpu_ratio": cpu[scenario.name], "p50_ratio": p50[scenario.name]}
        )  # fmt: skip
    return rows


def command_text() -> str:
    """``make bench`` with the BENCH_* variables this run was given (the run directory aside)."""
    given = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("BENCH_") and k != "BENCH_RUN_DIR")
    return " ".join([*given, "make bench"])


def settings_text(s: BenchSettings) -> str:
    return (
        f"{s.seconds:g} s per load run, connections {','.join(map(str, s.concurrency))}, {s.workers} workers, "
        f"{s.open_streams} open streams, {s.logs_rows:,} log records"
    )


def machine_info(loadavg_start: str) -> dict[str, Any]:
    cpu_model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(memory_kb / 2**20, 1),
        "kernel": platform.release(),
        "loadavg_start": loadavg_start,
        "loadavg_end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def _version_of(package: str) -> str:
    probe = subprocess.run(  # noqa: S603
        [str(VENV_PYTHON), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return probe.stdout.strip() or "-"


def build_description(config_args: str, cflags: str, shared: bool) -> str:
    """PGO, LTO and libpython's linkage, from the interpreter's own sysconfig values."""
    pgo = "--enable-optimizations" in config_args
    lto = "--with-lto" in config_args or "-flto" in cflags
    return " + ".join(
        ["PGO" if pgo else "no PGO", "LTO" if lto else "no LTO", "shared libpython" if shared else "static libpython"]
    )


def interpreter_build() -> str:
    """How the gateway's CPython was compiled: the proxy is interpreter-bound, and a build without
    PGO and LTO (pyenv's default) takes more CPU a request (docs/performance.md → Where the time
    goes)."""
    probe = subprocess.run(  # noqa: S603
        [str(VENV_PYTHON), "-c", "import sysconfig as s; print(s.get_config_var('CONFIG_ARGS') or '');"
         " print(s.get_config_var('PY_CFLAGS_NODIST') or '');"
         " print(s.get_config_var('Py_ENABLE_SHARED') or 0)"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    lines = probe.stdout.splitlines()
    if len(lines) < 3:
        return "-"
    return build_description(lines[0], lines[1], lines[2].strip() == "1")


def versions(settings: BenchSettings) -> dict[str, str]:
    found = {"python": platform.python_version(), "python build": interpreter_build()}
    for package in ("django", "gunicorn", "uvicorn", "uvloop", "httptools", "aiohttp", "orjson", "psycopg", "redis"):
        found[package] = _version_of(package)
    try:
        found["uvicorn-worker"] = metadata.version("uvicorn-worker")
    except metadata.PackageNotFoundError:
        info = next((REPO / "bench" / ".tools" / "python").glob("uvicorn_worker-*.dist-info"), None)
        found["uvicorn-worker"] = info.name.split("-")[1].removesuffix(".dist") if info else "-"
    found["postgresql"] = db.postgres_version(settings)
    found["redis-server"] = db.redis_stats(settings)["version"]
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False, timeout=10)  # noqa: S607
    found["wrk"] = (wrk.stdout or wrk.stderr).split()[1] if (wrk.stdout or wrk.stderr) else "-"
    return found


def git_state() -> dict[str, Any]:
    commit = subprocess.run(
        ["/usr/bin/git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False, timeout=10
    ).stdout.strip()
    changed = subprocess.run(
        ["/usr/bin/git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True,
        check=False, timeout=10,
    ).stdout.splitlines()  # fmt: skip
    return {"commit": commit or "unknown", "changed_files": len(changed)}


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM (bench/run.sh's timeout) becomes an exception, so that finally-blocks stop the
    # children and the partial results are still written.
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    settings = settings_from_env()
    run = BenchRun(settings)
    failed: BaseException | None = None
    phases = {
        "proxy": run.proxy_phase,
        "dialects": run.dialects_phase,
        "signing": run.signing_phase,
        "streams": run.streams_phase,
        "propagation": run.propagation_phase,
        "litellm": run.litellm_phase,
        "peers": run.peers_phase,
        "open_streams": run.open_streams_phase,
        "profile": run.profile_phase,
        "logs": run.logs_phase,
    }
    chosen = [name for name in phases if name in settings.phases]
    try:
        run.setup()
        for name in chosen:
            phases[name]()
    except BaseException as exc:
        failed = exc
        log(f"benchmark failed: {type(exc).__name__}: {str(exc)[-1500:]}")
    finally:
        run.stop_all()
        try:
            db.database_drop(settings)
            db.redis_flush(settings)
        except Exception as exc:
            log(f"cleanup: {exc}")
    results = run.finish()
    if failed is not None:
        results["failed"] = f"{type(failed).__name__}: {str(failed)[-1500:]}"
    path = results_write(results, RESULTS_DIR)
    if failed is None and len(chosen) < len(phases):
        log(f"results: {path}; only {', '.join(chosen)} ran, so docs/performance.md is left as it was")
    elif failed is None:
        performance_doc_update(results)
        log(f"results: {path}; docs/performance.md updated")
    else:
        log(f"partial results: {path}; docs/performance.md left as it was")
    print(summary_line(results), flush=True)
    return 1 if failed is not None else 0


if __name__ == "__main__":
    sys.exit(main())
