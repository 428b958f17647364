"""The dialect rows of ``make bench`` and ``make bench-instructions``: which requests they send,
what each is compared with, how the ratios are taken, and that the mock upstream answers the
native routes in a form the gateway's own readers accept (or a native row would measure errors)."""

from __future__ import annotations

import orjson
import pytest

from bench import mock_upstream
from bench.bench_settings import settings_from_env
from bench.instruction_count import per_request, summary_fields
from bench.report_writer import _dialects_section
from bench.request_scenarios import SCENARIOS, UnknownScenarioError, ratios_to_baseline, scenarios_choose
from bench.run_bench import dialect_rows
from bench.wrk_load import LoadResult
from proxy.dialects.anthropic_messages import MessagesDialect, MessagesNativeStream
from proxy.dialects.openai_responses import ResponsesDialect, ResponsesNativeStream


def _load(scenario: str, p50: float, cpu: float) -> LoadResult:
    result = LoadResult("aidgate", scenario, 1, 8.0, 1000, 125.0, p50, p50, p50 * 2, p50 * 3, p50, p50 * 4, 0, 0)
    result.cpu_ms_per_request = cpu
    return result


def test_it_adds_the_chat_baseline_of_each_chosen_scenario_streamed_with_streamed():
    chosen = [s.name for s in scenarios_choose("messages-stream, responses-native")]
    assert chosen == ["chat", "chat-stream", "messages-stream", "responses-native"]


def test_it_refuses_an_unknown_scenario_by_name():
    with pytest.raises(UnknownScenarioError, match="messages-sream"):
        scenarios_choose("chat,messages-sream")


def test_each_dialect_scenario_asks_for_a_stream_exactly_when_its_name_says_so():
    for scenario in SCENARIOS.values():
        assert orjson.loads(scenario.body).get("stream", False) is scenario.stream
        assert scenario.baseline == ("chat-stream" if scenario.stream else "chat")


def test_it_divides_each_value_by_its_baselines_and_gives_none_without_one():
    ratios = ratios_to_baseline({"chat": 100.0, "messages": 108.0, "messages-stream": 50.0})
    assert ratios == {"chat": 1.0, "messages": 1.08, "messages-stream": None}


def test_dialect_rows_give_ratios_to_chat_and_the_overhead_over_a_direct_run():
    scenarios = scenarios_choose("messages,messages-native")
    direct = _load("messages-native", 0.1, 0.01)
    runs = {
        "chat": (_load("chat", 1.0, 0.8), None),
        "messages": (_load("messages", 1.1, 0.9), None),
        "messages-native": (_load("messages-native", 0.9, 0.76), direct),
    }
    rows = {row["scenario"]: row for row in dialect_rows(scenarios, runs, connections=1)}
    assert (rows["messages"]["cpu_ratio"], rows["messages"]["p50_ratio"]) == (1.125, 1.1)
    assert rows["messages"]["overhead_p50_ms"] is None
    assert (rows["messages-native"]["cpu_ratio"], rows["messages-native"]["overhead_p50_ms"]) == (0.95, 0.8)
    section = "\n".join(_dialects_section({"dialects": {"rows": list(rows.values())}}))
    assert "| messages | /v1/messages | chat form | 1 |" in section


def test_instructions_are_counted_net_of_the_idle_rate_over_each_scenarios_wall_time():
    counts = [
        {"scenario": "chat", "instructions_busy": 1_000_000 + 500 * 10, "busy_seconds": 10.0},
        {"scenario": "messages", "instructions_busy": 1_100_000 + 500 * 20, "busy_seconds": 20.0},
    ]
    assert per_request(counts, idle_per_second=500.0, requests=100) == {"chat": 10_000, "messages": 11_000}


def test_the_summary_line_keeps_chats_field_and_adds_each_dialects_count_and_ratio():
    results = [
        {
            "label": "A",
            "instructions_per_request": 10_000,
            "scenarios": [
                {"scenario": "chat", "baseline": "chat", "instructions_per_request": 10_000, "ratio_to_baseline": 1.0},
                {
                    "scenario": "messages-stream",
                    "baseline": "chat-stream",
                    "instructions_per_request": 12_000,
                    "ratio_to_baseline": 1.0909,
                },
            ],
        }
    ]
    assert summary_fields(results) == [
        "instructions_per_request_A=10000",
        "instructions_per_request_messages_stream_A=12000",
        "ratio_messages_stream_A=1.0909",
    ]


def test_the_dialects_phase_is_chosen_with_its_connections(monkeypatch):
    monkeypatch.setenv("BENCH_PHASES", "dialects")
    monkeypatch.setenv("BENCH_DIALECT_CONNECTIONS", "1,4")
    settings = settings_from_env()
    assert (settings.phases, settings.dialect_connections) == (("dialects",), (1, 4))
    assert "responses-native-stream" in settings.dialect_scenarios


@pytest.mark.parametrize(
    ("path", "stream", "expected"),
    [
        (b"/v1/messages", False, mock_upstream.MESSAGE_RESPONSE),
        (b"/v1/messages", True, mock_upstream.MESSAGE_STREAM_RESPONSE),
        (b"/v1/responses", False, mock_upstream.RESPONSE_RESPONSE),
        (b"/v1/responses", True, mock_upstream.RESPONSE_STREAM_RESPONSE),
        (b"/v1/chat/completions", True, mock_upstream.FAST_STREAM_RESPONSE),
    ],
)
def test_the_mock_answers_each_format_on_its_path(path, stream, expected):
    body = orjson.dumps({"model": "m", "stream": stream})
    assert mock_upstream.UpstreamProtocol().response_for(b"POST", path, body) == expected


def test_the_mocks_anthropic_answers_read_as_a_message_and_a_complete_stream():
    _, usage = MessagesDialect().native_answer(orjson.loads(mock_upstream.MESSAGE_ANSWER), "claude-bench")
    assert (usage.prompt_tokens, usage.completion_tokens) == (24, 9)
    stream = MessagesNativeStream(prompt_chars=100)
    relayed = b"".join(stream.feed(b"".join(mock_upstream.MESSAGE_STREAM_EVENTS)))
    assert stream.complete
    assert stream.error is None
    assert relayed.count(b"event: content_block_delta") == len(mock_upstream.STREAM_TEXTS)
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (24, 5)


def test_the_mocks_responses_answers_read_as_a_response_and_a_complete_stream():
    _, usage = ResponsesDialect().native_answer(orjson.loads(mock_upstream.RESPONSE_ANSWER), "gpt-4o-mini-native")
    assert (usage.prompt_tokens, usage.completion_tokens) == (24, 9)
    stream = ResponsesNativeStream(prompt_chars=100)
    stream.feed(b"".join(mock_upstream.RESPONSE_STREAM_EVENTS))
    assert stream.complete
    assert b"response.completed" in stream.ending(failed=False)
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (24, 5)
