"""The propagation phase's figures: percentiles over the changes, and the report's verdict."""

from __future__ import annotations

from bench.bench_settings import settings_from_env
from bench.propagation import Propagation
from bench.report_writer import _propagation_section, summary_line
from bench.wrk_load import LoadResult


def _load(rps: float) -> LoadResult:
    return LoadResult("aidgate", "propagation-0", 32, 10.0, 1000, rps, 1, 2, 3, 4, 1.5, 9, 0, 0)


def test_it_summarises_the_changes_and_the_load_beside_them():
    measured = Propagation(delays_ms=[float(d) for d in range(100, 3100, 100)], load=[_load(1000.0), _load(500.0)])
    summary = measured.summary()
    assert (summary["changes"], summary["p50_ms"], summary["p99_ms"], summary["max_ms"]) == (30, 1600.0, 3000.0, 3000.0)
    assert (summary["load_rps"], summary["load_connections"], summary["wrong_first_uses"]) == (1500.0, 64, 0)


def test_it_reports_a_p99_over_one_second_as_missed_and_puts_it_in_the_summary_line():
    summary = Propagation(delays_ms=[120.0, 1400.0], load=[_load(900.0)]).summary()
    section = "\n".join(_propagation_section({"propagation": summary}))
    assert "| **no** |" in section
    line = summary_line(
        {"summary": {"overhead_p50_ms": 1.0, "overhead_p99_ms": 2.0, "litellm_throughput_ratio": 15.0,
                     "propagation_p99_ms": summary["p99_ms"]}}
    )  # fmt: skip
    assert line.endswith("propagation_p99_ms=1400.000")


def test_it_says_why_when_the_phase_did_not_run():
    section = "\n".join(_propagation_section({"propagation": {"changes": 0, "reason": "disabled"}}))
    assert "Not measured: disabled." in section


def test_bench_phases_choose_what_runs(monkeypatch):
    monkeypatch.setenv("BENCH_PHASES", "propagation, logs")
    assert settings_from_env().phases == ("propagation", "logs")
    monkeypatch.delenv("BENCH_PHASES")
    assert "propagation" in settings_from_env().phases
