"""``aidgate logs …``: lists with filters over several pages, one record, exports to a file."""

from __future__ import annotations

import csv
import json

from tests import factories


def test_it_lists_logs_newest_first_over_several_pages(org):
    ids = org.traffic(5)
    listed = org.ok("logs", "list", "--page-size", "2")
    assert [r["id"] for r in listed] == ids[::-1]


def test_it_limits_the_log_list_to_50_unless_told(org):
    org.traffic(3)
    assert len(org.ok("logs", "list", "--limit", "2")) == 2
    assert len(org.ok("logs", "list", "--limit", "0")) == 3


def test_it_filters_logs(org):
    ids = org.traffic(2, **{"X-Request-ID": "build-42"})
    listed = org.ok("logs", "list", "--client-request-id", "build-42", "--status", "200", "--model", "mock-small")
    assert {r["id"] for r in listed} == set(ids)
    assert org.ok("logs", "list", "--client-request-id", "build-43") == []


def test_it_lists_one_agents_logs(org):
    org.traffic(2)
    other = factories.make_agent(org.tenant)
    assert org.ok("logs", "list", "--agent", other.id) == []
    assert len(org.ok("logs", "list", "--agent", org.ok("logs", "list")[0]["agent_id"])) == 2


def test_it_shows_one_record(org):
    (request_id,) = org.traffic(1)
    record = org.ok("logs", "show", request_id)
    assert (record["id"], record["endpoint"], record["status_code"]) == (request_id, "chat", 200)


def test_it_exits_7_on_a_bad_filter(org):
    result = org.run("logs", "list", "--since", "yesterday-ish")
    assert result.code == 7
    assert "400 invalid_request" in result.stderr


def test_it_exports_jsonl_to_a_file_with_progress(org):
    ids = org.traffic(3)
    result = org.run("logs", "export", "--output", "export.jsonl", "--progress")
    assert result.code == 0, result
    lines = [json.loads(line) for line in (org.cwd / "export.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "export"
    assert sorted(r["id"] for r in lines if r["type"] == "record") == sorted(ids)
    assert "exporting: 3 records" in result.stderr
    assert "wrote 3 records" in result.stdout
    assert not list(org.cwd.glob("*.part"))


def test_it_shows_no_progress_unless_asked_off_a_terminal(org):
    org.traffic(1)
    result = org.run("logs", "export", "-o", "export.jsonl")
    assert result.code == 0, result
    assert result.stderr == ""


def test_it_reports_an_export_as_json_for_scripts(org):
    org.traffic(2)
    answer = org.ok("logs", "export", "-o", "export.jsonl")
    assert answer["records"] == 2
    assert answer["bytes"] == (org.cwd / "export.jsonl").stat().st_size


def test_it_exports_csv_with_filters(org):
    ids = org.traffic(2, **{"X-Request-ID": "nightly"})
    result = org.run("logs", "export", "-o", "logs.csv", "--format", "csv", "--client-request-id", "nightly")
    assert result.code == 0, result
    rows = list(csv.DictReader((org.cwd / "logs.csv").open()))
    assert sorted(r["id"] for r in rows) == sorted(ids)


def test_a_refused_export_leaves_no_file(org):
    result = org.run("logs", "export", "-o", "export.jsonl", "--status", "99999")
    assert result.code == 7
    assert list(org.cwd.iterdir()) == []
