"""``make bench-instructions`` reads callgrind's dumps itself: the total, and the self cost by
object file, where names are given once (on ``ob=`` or ``cob=``) and a call's inclusive cost
(the line after ``calls=``) must not be counted again."""

from __future__ import annotations

from bench.instruction_count import dump_totals, summary_fields

DUMP = """# callgrind format
version: 1
events: Ir
summary: 1000

ob=(1) /usr/lib/libc.so.6
fl=(1) memcpy.S
fn=(1) memcpy
10 100
+2 50

ob=(2) /opt/python/lib/libpython3.12.so.1.0
fl=(2) ceval.c
fn=(2) eval
5 600
cob=(1)
cfi=(1)
cfn=(1)
calls=3 10
7 150
cob=(3) /opt/site-packages/orjson.so
cfn=(3) dumps
calls=1 2
8 90

ob=(3)
fn=(3)
1 90
"""


def test_it_reads_the_total_and_the_self_cost_of_each_object(tmp_path):
    path = tmp_path / "callgrind.out.1.1"
    path.write_text(DUMP)

    total, by_object = dump_totals(path)

    assert total == 1000
    assert by_object == {"libc.so.6": 150, "libpython3.12.so.1.0": 600, "orjson.so": 90}


def test_it_reads_each_sides_chat_against_the_bare_passthroughs():
    results = [
        {"label": "A", "instructions_per_request": 1_500_000, "scenarios": [{"scenario": "chat", "baseline": "chat"}]},
        {"label": "B", "instructions_per_request": 1_800_000, "scenarios": [{"scenario": "chat", "baseline": "chat"}]},
    ]
    fields = summary_fields(results, {"instructions_per_request": 600_000})
    assert fields == [
        "instructions_per_request_A=1500000",
        "instructions_per_request_B=1800000",
        "instructions_per_request_bare=600000",
        "feature_cost_instruction_ratio_A=2.500",
        "feature_cost_instruction_ratio_B=3.000",
    ]
    # Without the bare passthrough's count (BENCH_INSTR_BARE=false) the line is as before.
    assert summary_fields(results) == fields[:2]
