"""Running the installed ``aidgate`` command as a user would: a subprocess, configured by
``AIDGATE_URL`` and ``AIDGATE_ORG_KEY``, in a directory of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests import factories

AIDGATE = Path(sys.executable).parent / "aidgate"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> dict[str, Any]:
        """The envelope printed on stderr in ``--json`` mode."""
        return json.loads(self.stderr)["error"]


def aidgate_run(*args: str, url: str | None, key: str | None, cwd: Path, stdin: str | None = None,
                env: dict[str, str] | None = None, timeout: float = 60) -> Result:  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AIDGATE_")}
    environment.update({"AIDGATE_URL": url or "", "AIDGATE_ORG_KEY": key or ""}, **(env or {}))
    done = subprocess.run(
        [str(AIDGATE), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        input=stdin,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Tenant:
    """One tenant of the shared gateway, its org keys, and a working directory."""

    tenant: Any
    admin_secret: str
    viewer_secret: str
    url: str
    cwd: Path
    agent_secret: str | None = None

    @property
    def id(self) -> str:
        return self.tenant.id

    def run(self, *args: str, key: str | None = None, **kwargs: Any) -> Result:
        """The command with the admin key, unless ``key`` says otherwise."""
        return aidgate_run(*args, url=self.url, key=self.admin_secret if key is None else key, cwd=self.cwd, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> Any:
        """The ``--json`` answer of a command that must succeed."""
        result = self.run(*args, "--json", **kwargs)
        assert result.code == 0, result
        return result.json() if result.stdout.strip() else None

    def traffic(self, count: int, *, model: str = "mock-small", **headers: str) -> list[str]:
        """``count`` proxied requests through a mock provider; their request ids, oldest first.
        The first call sets up the tenant's default app, provider, agent and key."""
        if self.agent_secret is None:
            factories.make_provider(self.tenant, kind="mock", models=["mock-*"])
            factories.make_app(self.tenant, is_default=True)
            _, self.agent_secret = factories.make_key(factories.make_agent(self.tenant))
        ids = []
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for _ in range(count):
                response = client.post(
                    "/v1/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": "Hi"}]},
                    headers={"Authorization": f"Bearer {self.agent_secret}", **headers},
                )
                assert response.status_code == 200, response.text
                ids.append(response.headers["x-request-id"])
        return ids
