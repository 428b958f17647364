"""The gateway in its production shape: gunicorn, uvicorn workers, production settings.

``uvicorn.workers`` is deprecated in the uvicorn this project installs (it warns on import
and points to the ``uvicorn-worker`` package), so the benchmark runs the worker class of
``uvicorn-worker``: from the project's venv once it is a dependency there, otherwise from
``bench/.tools/python``, installed on first use.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.bench_settings import REPO, TOOLS_DIR, BenchSettings
from bench.processes import ManagedProcess, children_of, http_wait, loaded_libraries, process_start

VENV_PYTHON = REPO / ".venv" / "bin" / "python"
GUNICORN = REPO / ".venv" / "bin" / "gunicorn"
WORKER_TOOLS = TOOLS_DIR / "python"
UVICORN_WORKER_VERSION = "0.4.0"


def _identity_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def gateway_env(settings: BenchSettings) -> dict[str, str]:
    """Production settings with strong secrets generated for this run only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "KEY_HASH_SECRET": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AGENT_IDENTITY_KEY": _identity_key_pem(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOW_PRIVATE_UPSTREAMS": "true",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            # Production shape: a broker, so sealing and rollups run in a Celery worker (beat
            # inside it) and the gateway workers do no background sealing of their own.
            "CELERY_BROKER_URL": settings.redis_url,
            "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def uvicorn_worker_path() -> tuple[str, str | None]:
    """The worker class, and a directory to put on PYTHONPATH for it (None: the venv has it)."""
    probe = subprocess.run(  # noqa: S603
        [str(VENV_PYTHON), "-c", "import uvicorn_worker"], capture_output=True, check=False, timeout=60
    )
    if probe.returncode == 0:
        return "uvicorn_worker.UvicornWorker", None
    if not (WORKER_TOOLS / "uvicorn_worker").is_dir():
        # --no-deps: uvicorn and gunicorn are the project's own; only the worker class is added.
        subprocess.run(  # noqa: S603
            [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--target", str(WORKER_TOOLS), f"uvicorn-worker=={UVICORN_WORKER_VERSION}"],
            check=True, timeout=300,
        )  # fmt: skip
    return "uvicorn_worker.UvicornWorker", str(WORKER_TOOLS)


def django_command(settings: BenchSettings, env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(  # noqa: S603
        [str(VENV_PYTHON), *args], cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


@dataclass
class Gateway:
    process: ManagedProcess
    port: int
    worker_class: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        return children_of(self.process.pid)

    def all_pids(self) -> list[int]:
        return [self.process.pid, *self.worker_pids()]

    def event_loop_check(self) -> dict[str, bool]:
        """Whether the workers really run uvloop and httptools (read from their memory maps)."""
        workers = self.worker_pids()
        if not workers:
            return {"uvloop": False, "httptools": False}
        found = loaded_libraries(workers[0], ("uvloop/loop", "httptools/parser"))
        return {"uvloop": found["uvloop/loop"], "httptools": found["httptools/parser"]}


def gateway_start(
    settings: BenchSettings,
    env: dict[str, str],
    *,
    name: str,
    port: int,
    workers: int,
    source: Path = REPO,
    app: str = "config.asgi:application",
) -> Gateway:
    """``source``: the checkout whose code the gateway runs (another one for an A/B comparison).

    ``app``: the ASGI application; the bare passthrough (``bench.bare_passthrough:app``) is
    started here too, so that it runs on exactly the gateway's server, worker class and flags.
    """
    worker_class, extra_path = uvicorn_worker_path()
    run_env = dict(env)
    if extra_path:
        run_env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH", "")) if p)
    argv = [
        str(GUNICORN), app, "-k", worker_class, "-w", str(workers),
        "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--timeout", "120", "--backlog", "4096",
        "--log-level", "warning",
    ]  # fmt: skip
    if (source / "config" / "gunicorn.py").exists():  # the metrics' hooks (an older REF has none)
        argv[1:1] = ["-c", "config/gunicorn.py"]
    process = process_start(name, argv, run_dir=settings.run_dir, env=run_env, cwd=source)
    gateway = Gateway(process, port, worker_class)
    http_wait(f"{gateway.url}/v1/models", process=process, timeout=90)
    # Every worker answers before measuring: gunicorn starts them one after the other.
    for _ in range(200):
        if len(gateway.worker_pids()) >= workers:
            break
        http_wait(f"{gateway.url}/v1/models", process=process, timeout=5)
    return gateway


def celery_start(settings: BenchSettings, env: dict[str, str]) -> ManagedProcess:
    """The background worker of the production shape: seals chains every 2 s, folds rollups."""
    argv = [
        str(REPO / ".venv" / "bin" / "celery"), "-A", "config", "worker", "-B", "--concurrency", "1",
        "--loglevel", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-s", str(settings.run_dir / "celerybeat-schedule"),
    ]  # fmt: skip
    return process_start("celery", argv, run_dir=settings.run_dir, env=env, cwd=REPO)


def python_version() -> str:
    return sys.version.split()[0]


def bare_start(settings: BenchSettings, upstream: str, *, workers: int) -> Gateway:
    """The bare passthrough (``bench/bare_passthrough.py``) on the gateway's server, flags and
    worker class, forwarding to ``upstream``; nothing of Django in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    env.update({"PYTHONPATH": str(REPO), "BENCH_BARE_UPSTREAM": upstream, "PYTHONDONTWRITEBYTECODE": "1"})
    return gateway_start(
        settings, env, name="bare-passthrough", port=settings.bare_port, workers=workers,
        app="bench.bare_passthrough:app",
    )  # fmt: skip
