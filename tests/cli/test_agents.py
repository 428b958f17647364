"""``aidgate agents …`` against a live gateway, and the exit codes every command shares."""

from __future__ import annotations

from identity.models import Agent
from tests import factories
from tests.cli.support import aidgate_run


def test_it_creates_shows_and_lists_agents(org):
    created = org.ok("agents", "create", "billing-bot", "--owner-email", "ops@example.com",
                     "--allowed-model", "gpt-4o*", "--description", "pays invoices")  # fmt: skip
    assert created["id"].startswith("ag_")
    assert (created["name"], created["owner_email"], created["allowed_models"]) == (
        "billing-bot", "ops@example.com", ["gpt-4o*"])  # fmt: skip
    assert org.ok("agents", "show", created["id"])["description"] == "pays invoices"
    assert [a["id"] for a in org.ok("agents", "list")] == [created["id"]]


def test_it_prints_a_table_for_people(org):
    agent = factories.make_agent(org.tenant, name="table-bot")
    result = org.run("agents", "list")
    assert result.code == 0
    header, row = result.stdout.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "STATUS"]
    assert row.split()[:3] == [agent.id, "table-bot", "active"]


def test_it_walks_every_page_of_a_list(org):
    made = {factories.make_agent(org.tenant).id for _ in range(5)}
    listed = [a["id"] for a in org.ok("agents", "list", "--page-size", "2")]
    assert len(listed) == 5
    assert set(listed) == made


def test_it_stops_a_list_at_the_limit(org):
    for _ in range(3):
        factories.make_agent(org.tenant)
    assert len(org.ok("agents", "list", "--limit", "2", "--page-size", "1")) == 2


def test_it_suspends_and_resumes_an_agent(org):
    agent = factories.make_agent(org.tenant)
    assert org.ok("agents", "suspend", agent.id)["status"] == "suspended"
    agent.refresh_from_db()
    assert agent.status == "suspended"
    assert org.ok("agents", "resume", agent.id)["status"] == "active"
    agent.refresh_from_db()
    assert agent.status == "active"


def test_it_deletes_an_agent(org):
    agent = factories.make_agent(org.tenant)
    result = org.run("agents", "delete", agent.id)
    assert result.code == 0, result
    assert agent.id in result.stdout
    assert not Agent.objects.filter(id=agent.id, deleted_at__isnull=True).exists()
    assert org.run("agents", "show", agent.id).code == 6


def test_it_exits_6_with_the_api_message_on_an_unknown_agent(org):
    result = org.run("agents", "show", "ag_doesnotexist1234")
    assert result.code == 6
    assert result.stdout == ""
    assert "no such agent" in result.stderr
    assert "404 not_found" in result.stderr
    assert "request req_" in result.stderr


def test_it_exits_6_on_another_tenants_agent(org):
    foreign = factories.make_agent(factories.make_tenant())
    assert org.run("agents", "show", foreign.id).code == 6


def test_it_exits_4_on_a_bad_key_without_printing_it(org):
    bad = "aid_org_" + "x" * 40
    result = org.run("agents", "list", key=bad)
    assert result.code == 4
    assert "401 unauthorized" in result.stderr
    assert bad not in result.stderr + result.stdout


def test_it_exits_5_when_a_viewer_creates(org):
    result = org.run("agents", "create", "nope", key=org.viewer_secret)
    assert result.code == 5
    assert "403 forbidden insufficient_role" in result.stderr
    assert not Agent.objects.filter(tenant=org.tenant, name="nope").exists()


def test_a_viewer_may_read(org):
    factories.make_agent(org.tenant)
    assert len(org.ok("agents", "list", key=org.viewer_secret)) == 1


def test_it_prints_the_error_envelope_as_json_for_scripts(org):
    result = org.run("agents", "show", "ag_doesnotexist1234", "--json")
    assert result.code == 6
    error = result.error()
    assert (error["status"], error["code"], error["reason"]) == (404, "not_found", "not_found")
    assert error["request_id"].startswith("req_")
    assert error["message"]


def test_it_exits_7_on_an_invalid_request(org):
    result = org.run("agents", "create", "x", "--data", '{"unknown_field": 1}')
    assert result.code == 7
    assert "400 invalid_request" in result.stderr


def test_it_exits_3_when_nothing_answers(org):
    result = aidgate_run("agents", "list", url="http://127.0.0.1:9", key=org.admin_secret, cwd=org.cwd)
    assert result.code == 3
    assert "cannot reach http://127.0.0.1:9" in result.stderr


def test_it_exits_2_without_a_key(org):
    result = aidgate_run("agents", "list", url=org.url, key=None, cwd=org.cwd)
    assert result.code == 2
    assert "AIDGATE_ORG_KEY" in result.stderr


def test_it_takes_url_and_key_as_options_too(org):
    agent = factories.make_agent(org.tenant)
    result = aidgate_run("--url", org.url, "agents", "list", "--key", org.admin_secret, "--json", url=None, key=None,
                         cwd=org.cwd)  # fmt: skip
    assert result.code == 0, result
    assert [a["id"] for a in result.json()] == [agent.id]


def test_it_refuses_malformed_data_as_a_usage_error(org):
    result = org.run("agents", "create", "x", "--data", "{not json")
    assert result.code == 2
    assert "--data is not JSON" in result.stderr
