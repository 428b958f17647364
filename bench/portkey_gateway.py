"""Portkey's open-source AI gateway beside aidgate: one Node process, the same mock upstream.

Installed on first use from the npm registry into ``bench/.portkey/`` (pinned, exact; see
``BenchSettings.portkey_version``), started as its README says (``npx @portkey-ai/gateway``,
i.e. the package's bin ``build/start-server.js``) with ``--port`` and ``--headless`` (no
console UI). It takes the provider and the upstream by headers on every request
(``portkey_headers``). Anything that goes wrong makes Portkey *unavailable* with a reason,
never fails the benchmark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.bench_settings import PORTKEY_DIR, BenchSettings
from bench.processes import ManagedProcess, http_wait, process_start

PACKAGE = "@portkey-ai/gateway"
INSTALL_TIMEOUT = 300


class PortkeyUnavailable(Exception):
    """Portkey's gateway cannot be installed or started here; the message says why."""


@dataclass
class PortkeyGateway:
    process: ManagedProcess
    port: int
    version: str
    node_version: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def package_dir(root: Path = PORTKEY_DIR) -> Path:
    return root / "node_modules" / "@portkey-ai" / "gateway"


def installed_version(root: Path = PORTKEY_DIR) -> str | None:
    try:
        return json.loads((package_dir(root) / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def portkey_headers(upstream: str, upstream_key: str) -> tuple[tuple[str, str], ...]:
    """What every request to Portkey carries: the provider, the upstream (its ``/v1`` base) and
    the upstream's key, which Portkey forwards (it has no keys of its own in this shape)."""
    return (
        ("Authorization", f"Bearer {upstream_key}"),
        ("Content-Type", "application/json"),
        ("x-portkey-provider", "openai"),
        ("x-portkey-custom-host", f"{upstream.rstrip('/')}/v1"),
    )


def portkey_install(version: str, root: Path = PORTKEY_DIR) -> str:
    """The installed version, installing ``@portkey-ai/gateway@version`` into ``root`` if needed.

    ``--ignore-scripts``: no install script of the package's 90-odd dependencies runs here (its
    own, ``patch-package``, has no patches in the published package); ``--save-exact`` and the
    lock file npm writes beside it keep a later install on the same tree.
    """
    if installed_version(root) == version:
        return version
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PortkeyUnavailable("node and npm are not installed (apt-get install -y nodejs npm)")
    root.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(  # noqa: S603
            [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
             "--loglevel", "error", f"{PACKAGE}@{version}"],
            check=True, timeout=INSTALL_TIMEOUT, capture_output=True, text=True, cwd=root,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        # The last lines say why; npm's pointer to its own debug log does not.
        lines = [ln for ln in (exc.stderr or exc.stdout or "").strip().splitlines() if "complete log" not in ln]
        tail = lines[-3:]
        raise PortkeyUnavailable(f"npm install {PACKAGE}@{version} failed: {' | '.join(tail)}") from exc
    except subprocess.TimeoutExpired as exc:
        raise PortkeyUnavailable(f"npm install {PACKAGE}@{version} took over {INSTALL_TIMEOUT} s") from exc
    found = installed_version(root)
    if found != version:
        raise PortkeyUnavailable(f"npm installed {PACKAGE} {found}, not {version}")
    return found


def portkey_start(settings: BenchSettings, root: Path = PORTKEY_DIR) -> PortkeyGateway:
    version = portkey_install(settings.portkey_version, root)
    entry = package_dir(root) / "build" / "start-server.js"
    node = shutil.which("node")
    if node is None or not entry.exists():
        raise PortkeyUnavailable(f"{entry} or node is missing")
    node_version = subprocess.run(  # noqa: S603
        [node, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.strip()
    # A clean environment: no Redis URL (Portkey would cache in it), production mode.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(settings.run_dir), "NODE_ENV": "production"}
    argv = [node, str(entry), f"--port={settings.portkey_port}", "--headless"]
    process = process_start("portkey", argv, run_dir=settings.run_dir, env=env, cwd=root)
    try:
        http_wait(f"http://127.0.0.1:{settings.portkey_port}/", process=process, timeout=60)
    except RuntimeError as exc:
        process.stop()
        raise PortkeyUnavailable(f"Portkey's gateway did not start: {str(exc)[-600:]}") from exc
    return PortkeyGateway(process, settings.portkey_port, version, node_version)
