"""``LOG_FORMAT=json`` through a real gateway process: every line is one JSON object, a line
about a proxied request names it (request id, tenant, app, agent), and no credential the
client sent ever appears. Without the setting the lines stay plain text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests import factories
from tests.support.servers import GatewayProcess, redis_url_for_tests, wait_for_port

REPO = Path(__file__).resolve().parents[2]


class LoggedGateway(GatewayProcess):
    """A gateway whose output goes to a file, its servers' access lines included."""

    def __init__(self, log_path: Path, **options) -> None:
        super().__init__(**options)
        self.log_path = log_path
        self._command[self._command.index("--log-level") + 1] = "info"
        self._log = None

    def start(self) -> LoggedGateway:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(self._command, env=self._env, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self) -> None:
        super().stop()
        if self._log is not None:
            self._log.close()

    def lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]


@pytest.fixture
def shared_redis(settings):
    url = redis_url_for_tests()
    if url is None:
        pytest.fail("these tests need Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    settings.REDIS_URL = url
    return url


@pytest.fixture
def caller(transactional_db):
    tenant = factories.make_tenant()
    app = factories.make_app(tenant, is_default=True)
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    agent = factories.make_agent(tenant)
    _, secret = factories.make_key(agent)
    return {"tenant_id": tenant.id, "app_id": app.id, "agent_id": agent.id, "secret": secret}


def gateway_with(tmp_path: Path, redis_url: str, **env: str) -> LoggedGateway:
    return LoggedGateway(tmp_path / "gateway.log", redis_url=redis_url, extra_env={"LOG_LEVEL": "INFO", **env})


def until_logged(gateway: LoggedGateway, text: str) -> list[str]:
    deadline = time.monotonic() + 10
    while not any(text in line for line in gateway.lines()):
        assert time.monotonic() < deadline, f"{text} never logged"
        time.sleep(0.1)
    return gateway.lines()


def test_it_writes_json_lines_naming_the_request_and_never_a_credential(tmp_path, shared_redis, caller):
    secret = caller["secret"]
    gateway = gateway_with(tmp_path, shared_redis, LOG_FORMAT="json").start()
    try:
        chat = {"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]}
        with httpx.Client(base_url=gateway.url, timeout=20) as client:
            answered = client.post("/v1/chat/completions", json=chat, headers={"X-API-Key": secret})
            bearer = client.post("/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {secret}"})
            in_query = client.post(f"/v1/chat/completions?api_key={secret}", json=chat)
            refused = client.post("/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {secret}x"})
        assert (answered.status_code, bearer.status_code, refused.status_code) == (200, 200, 401)
        lines = until_logged(gateway, refused.headers["x-request-id"])
    finally:
        gateway.stop()

    parsed = [json.loads(line) for line in lines]  # every line, the servers' own included
    assert all(isinstance(line, dict) and {"time", "level", "logger", "message"} <= line.keys() for line in parsed)
    by_request = {line["request_id"]: line for line in parsed if "request_id" in line}
    for response in (answered, bearer):
        line = by_request[response.headers["x-request-id"]]
        assert line["logger"] == "uvicorn.access"
        assert (line["tenant_id"], line["app_id"], line["agent_id"]) == (
            caller["tenant_id"], caller["app_id"], caller["agent_id"],
        )  # fmt: skip
    assert by_request[refused.headers["x-request-id"]]["agent_id"] is None
    assert in_query.headers["x-request-id"] in by_request
    text = gateway.log_path.read_text()
    assert secret not in text
    assert secret[-12:] not in text


def test_it_stays_plain_text_by_default(tmp_path, shared_redis, caller):
    gateway = gateway_with(tmp_path, shared_redis).start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=20) as client:
            chat = {"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]}
            assert client.post("/v1/chat/completions", json=chat, headers={"X-API-Key": caller["secret"]}).is_success
        lines = until_logged(gateway, "/v1/chat/completions")
    finally:
        gateway.stop()
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)


def test_it_refuses_to_start_with_an_unknown_format():
    env = {**os.environ, "DEBUG": "true", "LOG_FORMAT": "xml", "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "LOG_FORMAT must be text or json, not 'xml'" in done.stderr


def test_management_api_and_console_lines_name_the_request_and_its_tenant(tmp_path, shared_redis, transactional_db):
    tenant, _, secret = factories.make_tenant_with_org_key()
    gateway = gateway_with(tmp_path, shared_redis, LOG_FORMAT="json").start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=20) as client:
            unknown = client.get("/v1/agents/ag_unknown", headers={"Authorization": f"Bearer {secret}"})
            anonymous = client.get("/v1/agents")
            console = client.get("/admin/login/")
        assert (unknown.status_code, anonymous.status_code, console.status_code) == (404, 401, 200)
        until_logged(gateway, anonymous.headers["x-request-id"])
        lines = until_logged(gateway, console.headers["x-request-id"])
    finally:
        gateway.stop()

    parsed = [json.loads(line) for line in lines]

    def line_of(response: httpx.Response, logger: str) -> dict:
        rid = response.headers["x-request-id"]
        found = [line for line in parsed if line.get("request_id") == rid and line["logger"] == logger]
        assert found, f"no {logger} line names {rid}"
        return found[0]

    not_found = line_of(unknown, "django.request")
    assert not_found["message"] == "Not Found: /v1/agents/ag_unknown"
    assert (not_found["tenant_id"], not_found["app_id"], not_found["agent_id"]) == (tenant.id, None, None)
    assert unknown.json()["error"]["request_id"] == unknown.headers["x-request-id"]
    unauthorized = line_of(anonymous, "django.request")
    assert unauthorized["message"] == "Unauthorized: /v1/agents"
    assert unauthorized["tenant_id"] is None
    assert line_of(console, "uvicorn.access")["tenant_id"] is None
    assert secret not in gateway.log_path.read_text()


def test_console_session_lines_name_the_users_tenant(tmp_path, shared_redis, transactional_db):
    tenant = factories.make_tenant()
    user = factories.make_console_user(tenant)
    # the gateway runs the local settings, whose hashers do not read the tests' fast one
    user.password = PBKDF2PasswordHasher().encode("pw", "logsalt", iterations=1000)
    user.save(update_fields=["password"])
    gateway = gateway_with(tmp_path, shared_redis, LOG_FORMAT="json").start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=20) as client:
            client.get("/admin/login/")
            form = {"username": user.username, "password": "pw", "csrfmiddlewaretoken": client.cookies["csrftoken"]}
            assert client.post("/admin/login/", data=form).status_code == 302
            unknown = client.get("/v1/agents/ag_unknown")
            page = client.get("/admin/")
        assert (unknown.status_code, page.status_code) == (404, 200)
        lines = until_logged(gateway, page.headers["x-request-id"])
    finally:
        gateway.stop()

    by_request = {}
    for line in map(json.loads, lines):
        by_request.setdefault((line.get("request_id"), line["logger"]), line)
    not_found = by_request[unknown.headers["x-request-id"], "django.request"]
    assert (not_found["message"], not_found["tenant_id"]) == ("Not Found: /v1/agents/ag_unknown", tenant.id)
    assert by_request[page.headers["x-request-id"], "uvicorn.access"]["tenant_id"] == tenant.id
