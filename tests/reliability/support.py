"""Real processes the reliability tests break on purpose: a misbehaving upstream, private
Redis and PostgreSQL servers that can be stopped mid-test, and gunicorn with its workers.

None of them touches the machine's shared PostgreSQL or Redis: each runs on a free
loopback port of its own and is removed at teardown.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]


# --- A misbehaving upstream --------------------------------------------------------------


class RawConnection:
    """One accepted upstream connection, driven byte by byte by a scenario."""

    def __init__(self, sock: socket.socket, path: str, body: bytes) -> None:
        self.sock = sock
        self.path = path
        self.body = body

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def chunk(self, data: bytes) -> None:
        """One chunk of a ``Transfer-Encoding: chunked`` body."""
        self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def json(self, payload: object, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.head(status, {"Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close"})
        self.send(body)

    def stall(self, seconds: float = 30.0) -> None:
        """Say nothing until the gateway hangs up (or ``seconds`` pass)."""
        self.sock.settimeout(seconds)
        with contextlib.suppress(OSError):
            while self.sock.recv(4096):
                pass

    def reset(self) -> None:
        """Abort the connection with a TCP RST rather than an orderly close."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


Scenario = Callable[[RawConnection], None]


@dataclass
class RawUpstream:
    """A loopback HTTP/1.1 server that does exactly what a scenario says, however wrong.

    The first path segment names the scenario (``/reset_mid_stream/v1/chat/completions``),
    so one server serves every test and a provider's ``base_url`` picks its misbehaviour.
    """

    scenarios: dict[str, Scenario] = field(default_factory=dict)
    port: int = 0
    seen: list[str] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, scenario: str) -> str:
        return f"{self.url}/{scenario}/v1"

    def hits(self, scenario: str) -> int:
        return sum(1 for path in self.seen if path.startswith(f"/{scenario}/"))

    def start(self) -> RawUpstream:
        upstream = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                raw = b""
                while b"\r\n\r\n" not in raw:
                    data = sock.recv(65536)
                    if not data:
                        return
                    raw += data
                head, _, body = raw.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = next(
                    (int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length"), 0
                )
                while len(body) < length:
                    body += sock.recv(65536)
                upstream.seen.append(path)
                scenario = upstream.scenarios[path.split("/")[1]]
                with contextlib.suppress(OSError):
                    scenario(RawConnection(sock, path, body))

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            request_queue_size = 256  # storms arrive at once; the default backlog of 5 would drop them

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="raw-upstream").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def sse(payload: object) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


# --- Private Redis ------------------------------------------------------------------------


class PrivateRedis:
    """A Redis of the test's own, stoppable and restartable on the same port (empty again)."""

    def __init__(self, *options: str) -> None:
        self.port = free_port()
        self.options = options  # more redis-server arguments, e.g. "--requirepass", "secret"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*command, *self.options], stdout=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing answers (a network partition)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


# --- Private PostgreSQL -------------------------------------------------------------------


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or name]
    return found[-1]


class PrivateCluster:
    """A throwaway PostgreSQL cluster on a free port: trust authentication, no fsync.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
    system user and its commands run through ``runuser``.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="aid-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/aidgate"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            command = ("runuser", "-u", "postgres", "--", *command)
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=60)

    def create(self) -> PrivateCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(_postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self._run(_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "aidgate")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str, *params: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=aidgate") as conn:
            return conn.execute(sql, params).fetchall()


def manage(database_url: str, *args: str, script: str | None = None) -> str:
    """Run ``manage.py`` (or a Python ``script`` with Django set up) against another database."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "true",
        "DATABASE_URL": database_url,
    }
    if script is not None:
        command = [sys.executable, "-c", "import django; django.setup()\n" + script]
    else:
        command = [sys.executable, "manage.py", *args]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SEED_SCRIPT = """
import json, uuid
from tests import factories
tenant = factories.make_tenant("Private DB Org " + uuid.uuid4().hex[:8])
factories.make_app(tenant, slug="app-" + uuid.uuid4().hex[:12], is_default=True)
factories.make_provider(tenant, kind="mock", models=["mock-*"], extra_headers={"X-Mock-Latency-Ms": "20"})
_, secret = factories.make_key(factories.make_agent(tenant))
print(json.dumps({"tenant_id": tenant.id, "secret": secret}))
"""


def seed_tenant(database_url: str) -> dict[str, str]:
    """A tenant with a default app, a mock provider and a key, written into another database."""
    return json.loads(manage(database_url, script=SEED_SCRIPT).strip().splitlines()[-1])


# --- gunicorn -----------------------------------------------------------------------------


class Gunicorn:
    """The production serving shape: a gunicorn master with uvicorn workers."""

    def __init__(self, *, workers: int, env: dict[str, str]) -> None:
        self.port = free_port()
        self.workers = workers
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        command = [
            str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", "config.asgi:application",
            "-k", "uvicorn_worker.UvicornWorker", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
            "--graceful-timeout", "5", "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=REPO, env=self.env)
        wait_for_port(self.port, timeout=30)
        deadline = time.monotonic() + 30
        while len(self.worker_pids()) < self.workers:
            assert time.monotonic() < deadline, "gunicorn did not start its workers"
            time.sleep(0.1)
        return self

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


# --- Traffic ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one request got back: status (0 when no response arrived), its request id, when
    it started and ended (monotonic), and a label the sender chose (which tenant, which kind)."""

    status: int
    request_id: str | None
    at: float
    reason: str | None = None
    stream_done: bool | None = None
    ended: float = field(default_factory=time.monotonic)
    label: str = ""
    # The client's own X-Request-ID, kept in the record as client_request_id: it names the
    # request's record even when the answer (and the gateway's X-Request-ID) never arrived.
    client_request_id: str | None = None


def chat_request(
    client: httpx.Client, secret: str, *, stream: bool = False, model: str = "mock-1", label: str = ""
) -> Outcome:
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    own_id = f"cli-{uuid.uuid4().hex}"
    headers = {"X-API-Key": secret, "X-Request-ID": own_id}
    started = time.monotonic()
    try:
        if stream:
            with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    reason = response.json()["error"]["reason"]
                    return Outcome(
                        response.status_code, response.headers.get("x-request-id"), started, reason, label=label,
                        client_request_id=own_id,
                    )  # fmt: skip
                lines = [line for line in response.iter_lines() if line.startswith("data:")]
                done = bool(lines) and lines[-1] == "data: [DONE]"
                request_id = response.headers.get("x-request-id")
                return Outcome(
                    response.status_code, request_id, started, stream_done=done, label=label, client_request_id=own_id
                )
        response = client.post("/v1/chat/completions", json=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(0, None, started, reason=type(exc).__name__, label=label, client_request_id=own_id)
    reason = response.json().get("error", {}).get("reason") if response.status_code >= 400 else None
    return Outcome(
        response.status_code, response.headers.get("x-request-id"), started, reason=reason, label=label,
        client_request_id=own_id,
    )  # fmt: skip


class Traffic:
    """``clients`` threads sending requests back to back until stopped."""

    def __init__(self, send: Callable[[httpx.Client, int], Outcome], *, url: str | Callable[[int], str], clients: int):
        self._send = send
        self._url = url if callable(url) else (lambda _i: url)
        self._clients = clients
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self._url(index), timeout=30) as client:
            while not self._stop.is_set():
                outcome = self._send(client, index)
                with self._lock:
                    self.outcomes.append(outcome)
                if outcome.status == 0:
                    time.sleep(0.05)

    def __enter__(self) -> Traffic:
        for index in range(self._clients):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(40)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)
