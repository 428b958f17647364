"""``manage.py runserver`` refuses and points at ``make run``: it would serve the console but
answer 404 on every proxy path (docs/decisions.md, "runserver")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command, get_commands

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def environment(tmp_path: Path) -> dict[str, str]:
    """The embedded default, as a person's first try would run: DEBUG, SQLite, no Redis."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    return env | {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}


def test_the_consoles_runserver_is_the_one_manage_py_runs():
    assert get_commands()["runserver"] == "console"


def test_it_refuses_and_points_at_make_run():
    with pytest.raises(CommandError, match=r"`make run`") as refused:
        call_command("runserver")
    assert "/v1/chat/completions" in str(refused.value)


def test_the_refusal_reaches_the_person_who_typed_it(tmp_path):
    result = subprocess.run(manage("runserver"), env=environment(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "make run" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_only_serves_the_console_and_says_the_proxy_paths_are_not_there(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        manage("runserver", "--console-only", "--noreload", f"127.0.0.1:{port}"),
        env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                login = httpx.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "runserver --console-only did not start"
                time.sleep(0.2)
        assert login.status_code == 200
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={}, timeout=5).status_code == 404
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert "console only: the proxy paths answer 404 here; `make run` serves them" in stderr
