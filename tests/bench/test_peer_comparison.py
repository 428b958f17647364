"""The peers phase's figures and the summary line: ratios within a round, their median, and
the line's keys in the order the performance targets name them."""

from __future__ import annotations

import math

import pytest

from bench.bench_settings import BenchSettingError, settings_from_env
from bench.peer_comparison import peer_summary, round_ratios, ttfb_ratios
from bench.portkey_gateway import PortkeyUnavailable, portkey_headers, portkey_install
from bench.report_writer import _peers_section, summary_line
from bench.wrk_load import LoadResult


def _run(target: str, repeat: int, rps: float, cpu: float | None) -> LoadResult:
    return LoadResult(
        target, "chat-1proc", 64, 8.0, int(rps * 8), rps, 1, 2, 3, 4, 1.5, 9, 0, 0, cpu_ms_per_request=cpu,
        repeat=repeat,
    )  # fmt: skip


def test_each_ratio_is_taken_within_its_round_and_the_median_is_the_figure():
    runs = [
        _run("aidgate", 0, 800.0, 1.2), _run("bare", 0, 1600.0, 0.6), _run("portkey", 0, 200.0, 3.0),
        _run("aidgate", 1, 600.0, 1.5), _run("bare", 1, 1200.0, 0.5), _run("portkey", 1, 300.0, 3.1),
        _run("aidgate", 2, 700.0, 1.4), _run("bare", 2, 1400.0, 0.7), _run("portkey", 2, 175.0, 2.9),
    ]  # fmt: skip
    summary = peer_summary(runs)
    assert summary["portkey_throughput_ratio_each"] == [4.0, 2.0, 4.0]
    assert summary["portkey_throughput_ratio"] == 4.0
    assert summary["feature_cost_ratio_each"] == [2.0, 3.0, 2.0]
    assert summary["feature_cost_ratio"] == 2.0
    assert summary["bare_throughput_ratio"] == 0.5


def test_a_round_missing_a_target_or_serving_nothing_gives_no_ratio():
    runs = [_run("aidgate", 0, 800.0, 1.2), _run("portkey", 0, 0.0, None), _run("aidgate", 1, 800.0, 1.2)]
    assert round_ratios(runs, "aidgate", "portkey", "throughput_rps") == []
    summary = peer_summary(runs)
    assert math.isnan(summary["portkey_throughput_ratio"])
    assert math.isnan(summary["feature_cost_ratio"])


def test_time_to_first_byte_is_compared_with_the_bare_passthrough_at_each_concurrency():
    rows = [
        {"target": "direct", "concurrency": 1, "ttfb_p50_ms": 0.2, "ttfb_p99_ms": 0.5},
        {"target": "aidgate", "concurrency": 1, "ttfb_p50_ms": 3.0, "ttfb_p99_ms": 6.0},
        {"target": "bare", "concurrency": 1, "ttfb_p50_ms": 2.0, "ttfb_p99_ms": 5.0},
        {"target": "aidgate", "concurrency": 16, "ttfb_p50_ms": 9.0, "ttfb_p99_ms": 20.0},
    ]
    assert ttfb_ratios(rows) == [
        {"concurrency": 1, "aidgate_ttfb_p50_ms": 3.0, "bare_ttfb_p50_ms": 2.0, "ttfb_p50_ratio": 1.5,
         "ttfb_p99_ratio": 1.2}
    ]  # fmt: skip


def test_the_summary_line_holds_the_five_target_figures_then_propagation():
    line = summary_line(
        {"summary": {"overhead_p50_ms": 1.25, "overhead_p99_ms": 3.5, "litellm_throughput_ratio": 21.0,
                     "portkey_throughput_ratio": 3.25, "feature_cost_ratio": math.nan,
                     "propagation_p50_ms": 80.0, "propagation_p99_ms": 120.0}}
    )  # fmt: skip
    assert line == (
        "overhead_p50_ms=1.250 overhead_p99_ms=3.500 litellm_throughput_ratio=21.000 "
        "portkey_throughput_ratio=3.250 feature_cost_ratio=nan propagation_p99_ms=120.000"
    )


def test_a_run_without_the_peers_phase_prints_nan_for_its_figures():
    line = summary_line({"summary": {"overhead_p50_ms": 1.0, "overhead_p99_ms": 2.0, "litellm_throughput_ratio": 9.0}})
    assert "portkey_throughput_ratio=nan feature_cost_ratio=nan" in line


def test_the_report_says_why_portkey_was_not_measured():
    peers = {
        "connections": 64, "rounds": 1, "portkey": {"available": False, "reason": "disabled with BENCH_PORTKEY=false"},
        "load": [_run("aidgate", 0, 800.0, 1.2).as_dict(), _run("bare", 0, 1600.0, 0.6).as_dict()],
        **peer_summary([_run("aidgate", 0, 800.0, 1.2), _run("bare", 0, 1600.0, 0.6)]),
    }  # fmt: skip
    section = "\n".join(_peers_section({"peers": peers}))
    assert "**not measured** in this run: disabled with BENCH_PORTKEY=false" in section
    assert "| CPU a request aidgate/bare (`feature_cost_ratio`) | 2.00 | 2.0 | ≤ 1.5 |" in section


def test_without_npm_portkey_is_unavailable_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PortkeyUnavailable, match="node and npm are not installed"):
        portkey_install("1.15.2", root=tmp_path / "portkey")


def test_portkey_is_told_the_provider_and_the_upstream_by_headers():
    headers = dict(portkey_headers("http://127.0.0.1:18081/", "upstream-key"))
    assert headers["x-portkey-provider"] == "openai"
    assert headers["x-portkey-custom-host"] == "http://127.0.0.1:18081/v1"
    assert headers["Authorization"] == "Bearer upstream-key"


def test_portkey_settings(monkeypatch):
    for name in ("BENCH_PORTKEY", "BENCH_PORTKEY_VERSION", "BENCH_PORTKEY_PORT", "BENCH_PEER_ROUNDS", "BENCH_PHASES"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_from_env()
    assert (settings.portkey, settings.portkey_version, settings.peer_rounds) == (True, "1.15.2", 3)
    assert "peers" in settings.phases
    monkeypatch.setenv("BENCH_PORTKEY", "false")
    monkeypatch.setenv("BENCH_PORTKEY_PORT", "38610")
    assert (settings_from_env().portkey, settings_from_env().portkey_port) == (False, 38610)
    monkeypatch.setenv("BENCH_PORTKEY", "maybe")
    with pytest.raises(BenchSettingError):
        settings_from_env()
