"""``aidgate apps|policies|providers …``: list, show, create, delete."""

from __future__ import annotations

from apps.models import App, Policy
from providers.models import Provider
from tests import factories


def test_it_creates_lists_shows_and_deletes_an_app(org):
    app = org.ok("apps", "create", "Support", "--slug", factories.unique("support-"), "--default")
    assert (app["name"], app["is_default"]) == ("Support", True)
    assert [a["id"] for a in org.ok("apps", "list")] == [app["id"]]
    assert org.ok("apps", "show", app["id"])["slug"] == app["slug"]
    assert org.run("apps", "delete", app["id"]).code == 0
    assert not App.objects.filter(id=app["id"]).exists()


def test_it_exits_7_on_a_taken_slug(org):
    taken = factories.make_app(factories.make_tenant()).slug
    result = org.run("apps", "create", "Copy", "--slug", taken)
    assert result.code == 7
    assert "slug_taken" in result.stderr


def test_it_creates_a_policy_with_its_limits(org):
    agent = factories.make_agent(org.tenant)
    policy = org.ok("policies", "create", "tight", "--agent-id", agent.id, "--requests-per-minute", "10",
                    "--allowed-model", "mock-*", "--data", '{"max_tokens_per_request": 256}')  # fmt: skip
    assert (policy["agent_ids"], policy["requests_per_minute"], policy["allowed_models"]) == (
        [agent.id], 10, ["mock-*"])  # fmt: skip
    assert policy["max_tokens_per_request"] == 256
    assert org.ok("policies", "show", policy["id"])["name"] == "tight"
    listed = org.run("policies", "list")
    assert policy["id"] in listed.stdout
    assert org.run("policies", "delete", policy["id"]).code == 0
    assert not Policy.objects.filter(id=policy["id"]).exists()


def test_it_creates_a_disabled_tenant_wide_policy(org):
    policy = org.ok("policies", "create", "later", "--tenant-wide", "--daily-token-budget", "1000", "--disabled")
    assert (policy["tenant_wide"], policy["enabled"], policy["daily_token_budget"]) == (True, False, 1000)


def test_it_creates_a_provider_with_its_key_from_the_environment(org):
    upstream_key = "sk-upstream-never-shown-1234567890"
    result = org.run("providers", "create", "main", "--kind", "mock", "--model", "mock-*", "--priority", "3",
                     "--api-key-env", "UPSTREAM_KEY", "--json", env={"UPSTREAM_KEY": upstream_key})  # fmt: skip
    assert result.code == 0, result
    provider = result.json()
    assert (provider["kind"], provider["models"], provider["priority"], provider["api_key_set"]) == (
        "mock", ["mock-*"], 3, True)  # fmt: skip
    assert upstream_key not in result.stdout + result.stderr
    assert org.ok("providers", "show", provider["id"])["api_key_set"] is True
    assert [p["id"] for p in org.ok("providers", "list")] == [provider["id"]]
    assert org.run("providers", "delete", provider["id"]).code == 0
    assert not Provider.objects.filter(id=provider["id"]).exists()


def test_it_refuses_a_missing_provider_key_variable(org):
    result = org.run("providers", "create", "main", "--kind", "openai", "--api-key-env", "NOT_SET_ANYWHERE")
    assert result.code == 2
    assert "NOT_SET_ANYWHERE is not set" in result.stderr
    assert not Provider.objects.filter(tenant=org.tenant).exists()


def test_a_viewer_cannot_create_a_provider(org):
    result = org.run("providers", "create", "main", "--kind", "mock", key=org.viewer_secret)
    assert result.code == 5
