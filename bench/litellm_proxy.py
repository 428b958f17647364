"""LiteLLM's proxy beside the gateway: its own venv under bench/, the same mock upstream.

Installed on first use from PyPI (pinned; see ``BenchSettings.litellm_version``). Anything
that goes wrong here makes LiteLLM *unavailable* with a reason, never fails the benchmark.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.bench_settings import LITELLM_VENV, REPO, BenchSettings
from bench.processes import ManagedProcess, http_wait, process_start

INSTALL_TIMEOUT = 420
# A release of litellm once shipped a .pth file that ran a credential stealer at every
# interpreter start; refuse to run a venv holding any .pth file we did not expect.
EXPECTED_PTH = {"distutils-precedence.pth", "_virtualenv.pth"}


class LiteLLMUnavailable(Exception):
    """LiteLLM cannot be installed or started here; the message says why."""


@dataclass
class LiteLLMProxy:
    process: ManagedProcess
    port: int
    master_key: str
    version: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _python() -> Path:
    return LITELLM_VENV / "bin" / "python"


def _installed_version() -> str | None:
    if not _python().exists():
        return None
    probe = subprocess.run(  # noqa: S603
        [str(_python()), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    return probe.stdout.strip() if probe.returncode == 0 else None


def _pth_check() -> None:
    unexpected = sorted(p.name for p in LITELLM_VENV.rglob("*.pth") if p.name not in EXPECTED_PTH)
    if unexpected:
        raise LiteLLMUnavailable(f"refusing to run: unexpected .pth files in {LITELLM_VENV}: {', '.join(unexpected)}")


def litellm_install(version: str) -> str:
    """The installed version, installing ``litellm[proxy]==version`` into bench/.litellm-venv if needed."""
    installed = _installed_version()
    if installed == version:
        _pth_check()
        return installed
    python = subprocess.run(  # noqa: S603
        [str(REPO / "scripts" / "find-python")], capture_output=True, text=True, check=False, timeout=30
    )
    if python.returncode != 0:
        raise LiteLLMUnavailable(f"no Python 3.12+ for LiteLLM's venv: {python.stderr.strip()}")
    try:
        if not _python().exists():
            subprocess.run([python.stdout.strip(), "-m", "venv", str(LITELLM_VENV)], check=True, timeout=120)  # noqa: S603
        subprocess.run(  # noqa: S603
            [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"litellm[proxy]=={version}"],
            check=True, timeout=INSTALL_TIMEOUT, capture_output=True, text=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-3:]
        raise LiteLLMUnavailable(f"pip install litellm[proxy]=={version} failed: {' | '.join(tail)}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LiteLLMUnavailable(f"pip install litellm[proxy]=={version} took over {INSTALL_TIMEOUT} s") from exc
    _pth_check()
    installed = _installed_version()
    if installed is None:
        raise LiteLLMUnavailable("litellm does not import after installation")
    return installed


def litellm_config(upstream: str, master_key: str) -> str:
    """The same mock upstream as the gateway's provider; no database, no callbacks."""
    return f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {upstream}/v1
      api_key: mock-upstream-key
  - model_name: text-embedding-3-small
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: {upstream}/v1
      api_key: mock-upstream-key
litellm_settings:
  telemetry: false
  drop_params: true
general_settings:
  master_key: {master_key}
"""


def litellm_start(settings: BenchSettings, upstream: str, workers: int) -> LiteLLMProxy:
    version = litellm_install(settings.litellm_version)
    executable = LITELLM_VENV / "bin" / "litellm"
    if not executable.exists():
        raise LiteLLMUnavailable(f"{executable} is missing")
    master_key = "sk-bench-" + secrets.token_urlsafe(24)
    config = settings.run_dir / "litellm.yaml"
    config.write_text(litellm_config(upstream, master_key))
    config.chmod(0o600)
    # A clean environment: nothing of the gateway's (no DATABASE_URL: LiteLLM would use it).
    env = {
        "PATH": f"{LITELLM_VENV / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(settings.run_dir),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MODE": "PRODUCTION",
        "NO_DOCS": "True",
        "DISABLE_ADMIN_UI": "True",
        "TOKENIZERS_PARALLELISM": "false",
    }
    argv = [
        str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(settings.litellm_port),
        "--num_workers", str(workers),
    ]  # fmt: skip
    process = process_start("litellm", argv, run_dir=settings.run_dir, env=env, cwd=settings.run_dir)
    try:
        http_wait(f"http://127.0.0.1:{settings.litellm_port}/health/liveliness", process=process, timeout=120)
    except RuntimeError as exc:
        process.stop()
        raise LiteLLMUnavailable(f"LiteLLM did not start: {str(exc)[-600:]}") from exc
    return LiteLLMProxy(process, settings.litellm_port, master_key, version)
