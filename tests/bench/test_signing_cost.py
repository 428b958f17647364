"""The signing phase's arithmetic (bench/signing_cost.py): signing's share of a signed request."""

from __future__ import annotations

from bench.report_writer import _signing_section
from bench.signing_cost import Round, signing_summary


def test_it_reads_the_share_of_a_signed_request_from_the_median_pair():
    rounds = [Round(1.05, 1000, 1.0, 1000), Round(1.20, 1000, 1.0, 1000), Round(0.50, 1000, 0.49, 1000)]

    summary = signing_summary(rounds, token_us=20.0)

    # Median ratio 1.05: (1.05 - 1) / 1.05 of a signed request.
    assert summary["signing_cpu_pct"] == 4.76
    assert summary["ratios"] == [1.05, 1.2, 1.0204]
    # Pooled: (1.05 + 1.2 + 0.5) / 3 signed against (1 + 1 + 0.49) / 3 unsigned.
    assert summary["signing_cpu_pct_pooled"] == 9.45
    assert summary["signing_cpu_pct_from_token"] == round(20.0 / (2.75 / 3 * 1000) * 100, 2)


def test_pooling_weighs_each_round_by_its_requests():
    summary = signing_summary([Round(2.0, 100, 1.0, 100), Round(1.0, 900, 1.0, 900)])

    assert summary["signed_cpu_ms"] == 1.1
    assert "token_us" not in summary


def test_a_round_without_cpu_leaves_no_figure_and_the_report_says_so():
    summary = signing_summary([Round(0.0, 0, 1.0, 10)])

    assert "signing_cpu_pct" not in summary
    assert "Not measured" in "\n".join(_signing_section({"signing": summary}))


def test_the_report_gives_the_share_and_the_target():
    summary = signing_summary([Round(1.04, 500, 1.0, 500)], token_us=21.0)

    text = "\n".join(_signing_section({"signing": {**summary, "connections": 16}}))

    assert "**3.85%**" in text
    assert "Target: at most 5%" in text
