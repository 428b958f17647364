"""The client library on its own, as a script imports it: pages, errors, configuration, secrecy."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aidgate.client import AidgateClient, AidgateError
from tests import factories


def client_of(org, **kwargs) -> AidgateClient:
    return AidgateClient(org.url, org.admin_secret, **kwargs)


def test_it_walks_pages_transparently(org):
    made = [factories.make_agent(org.tenant).id for _ in range(7)]
    with client_of(org, page_size=3) as client:
        assert [a["id"] for a in client.agent_list()] == made
        assert len(list(client.agent_list(limit=4))) == 4


def test_it_reads_url_and_key_from_the_environment(org, monkeypatch):
    monkeypatch.setenv("AIDGATE_URL", org.url + "/")
    monkeypatch.setenv("AIDGATE_ORG_KEY", org.admin_secret)
    client = AidgateClient()
    assert client.url == org.url
    assert list(client.agent_list()) == []


def test_it_raises_one_error_type_carrying_the_envelope(org):
    with pytest.raises(AidgateError) as caught, client_of(org) as client:
        client.agent_get("ag_doesnotexist1234")
    error = caught.value
    assert (error.status, error.code, error.reason) == (404, "not_found", "not_found")
    assert error.request_id.startswith("req_")
    assert error.envelope()["error"]["message"] == error.message == "no such agent"


def test_it_never_shows_the_key(org):
    client = client_of(org)
    assert org.admin_secret not in repr(client)
    with pytest.raises(AidgateError) as caught:
        AidgateClient(org.url, "aid_org_" + "y" * 40).agent_list().__next__()
    assert "aid_org_" not in str(caught.value) + json.dumps(caught.value.envelope())


def test_it_refuses_to_start_without_configuration(monkeypatch):
    monkeypatch.delenv("AIDGATE_URL", raising=False)
    monkeypatch.delenv("AIDGATE_ORG_KEY", raising=False)
    with pytest.raises(AidgateError) as caught:
        AidgateClient()
    assert (caught.value.status, caught.value.code) == (None, "configuration")


def test_it_times_out(org):
    # A listening socket that never answers: the accept queue holds the connection.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        client = AidgateClient(f"http://127.0.0.1:{silent.getsockname()[1]}", org.admin_secret, timeout=0.3)
        with pytest.raises(AidgateError) as caught:
            client.agent_get("ag_x")
    assert (caught.value.status, caught.value.code) == (None, "timeout")


def test_it_streams_an_export_into_an_open_file(org):
    ids = org.traffic(2)
    seen: list[tuple[int, int]] = []
    buffer = io.BytesIO()
    written, records = client_of(org).log_export(buffer, on_progress=lambda b, r: seen.append((b, r)))
    assert (written, records) == (len(buffer.getvalue()), 2)
    assert seen[-1] == (written, 2)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert sorted(r["id"] for r in lines if r["type"] == "record") == sorted(ids)


def test_it_suspends_resumes_and_creates_keys(org):
    agent = factories.make_agent(org.tenant)
    client = client_of(org)
    assert client.agent_suspend(agent.id)["status"] == "suspended"
    assert client.agent_resume(agent.id)["status"] == "active"
    key = client.key_create(agent.id, name="k", scopes=["embeddings"])
    assert key["key"].startswith("aid_sk_")
    assert [k["id"] for k in client.key_list(agent.id)] == [key["id"]]


def test_the_script_example_of_the_docs_suspends_idle_agents(org):
    """The Python example of docs/cli.md → Scripts, run as written."""
    org.traffic(1)
    busy = org.ok("logs", "list")[0]["agent_id"]
    idle = factories.make_agent(org.tenant)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    example = doc.split("## Scripts", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AIDGATE_")}
    environment.update(AIDGATE_URL=org.url, AIDGATE_ORG_KEY=org.admin_secret)
    done = subprocess.run([sys.executable, "-c", example], env=environment, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["suspended", idle.id, idle.name]
    assert org.ok("agents", "show", busy)["status"] == "active"
    assert org.ok("agents", "show", idle.id)["status"] == "suspended"
