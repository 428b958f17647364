"""Child processes of the benchmark and what /proc says about them.

Each child runs in its own session (its own process group), its pid written to
``<run_dir>/pids/<name>.pid`` so that ``bench/run.sh``'s trap can end exactly the processes
this run started, by id, even if the Python orchestrator itself died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen
    log_path: Path
    pid_file: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        # Children the leader left behind in its group (gunicorn workers, uvicorn workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def process_start(
    name: str, argv: list[str], *, run_dir: Path, env: dict[str, str], cwd: Path | None = None
) -> ManagedProcess:
    logs, pids = run_dir / "logs", run_dir / "pids"
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    log = log_path.open("ab")
    popen = subprocess.Popen(  # noqa: S603 - argv built by the benchmark itself
        argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    pid_file = pids / f"{name}.pid"
    pid_file.write_text(str(popen.pid))
    return ManagedProcess(name, popen, log_path, pid_file)


def http_wait(url: str, *, process: ManagedProcess | None = None, timeout: float = 60.0) -> None:
    """Until ``url`` answers at all (any status); raises if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited early:\n{process.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL of our own child
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    tail = process.log_tail() if process is not None else ""
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s\n{tail}")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its closing one.
    return raw[raw.rindex(")") + 2 :].split()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def descendants_of(pid: int) -> list[int]:
    result, frontier = [], [pid]
    while frontier:
        kids = [child for parent in frontier for child in children_of(parent)]
        result.extend(kids)
        frontier = kids
    return result


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (each one alone, not its children)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[21]) * PAGE_SIZE if fields is not None else 0


def processes_named(command: str, *, title_contains: str = "") -> list[int]:
    """Processes whose command is ``command`` and whose title (cmdline) holds ``title_contains``.

    PostgreSQL titles each backend ``postgres: user database host state``: with the
    database's name this selects the benchmark's own backends, not another job's.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() != command:
                    continue
                if title_contains and title_contains not in (entry / "cmdline").read_text(errors="replace"):
                    continue
                pids.append(int(entry.name))
    return pids


def cpu_by_process(pids: list[int]) -> dict[int, float]:
    """CPU seconds per process, for deltas that survive processes coming and going."""
    found = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two ``cpu_by_process`` snapshots; a process born in between counts whole."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def loaded_libraries(pid: int, needles: tuple[str, ...]) -> dict[str, bool]:
    """Whether each needle appears in the process's memory map (e.g. uvloop's extension)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return dict.fromkeys(needles, False)
    return {needle: needle in maps for needle in needles}
