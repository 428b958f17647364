"""Sampling profile of one gateway worker under load (py-spy, from PyPI into bench/.tools).

py-spy attaches from outside (ptrace), so the gateway runs unmodified. The raw collapsed
stacks are kept in the run directory (``speedscope``/``inferno`` can draw them) and folded
here into the functions that cost the most, self and inclusive.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from bench.bench_settings import TOOLS_DIR
from bench.gateway_process import VENV_PYTHON

PY_SPY_VERSION = "0.4.3"
PY_SPY = TOOLS_DIR / "pyspy" / "bin" / "py-spy"


def py_spy_path() -> Path:
    if not PY_SPY.exists():
        subprocess.run(  # noqa: S603
            [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
             str(TOOLS_DIR / "pyspy"), f"py-spy=={PY_SPY_VERSION}"],
            check=True, timeout=300,
        )  # fmt: skip
    return PY_SPY


def py_spy_record(pid: int, seconds: int, out: Path, rate: int = 500) -> subprocess.Popen:
    """Start recording (returns at once); wait on the returned process.

    ``--gil``: only the thread holding the GIL is sampled, so shares are shares of the
    worker's Python CPU time (waits in psycopg or epoll, which release the GIL, drop out).
    """
    argv = [str(py_spy_path()), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate),
            "--format", "raw", "--threads", "--gil", "--output", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def _frame_name(frame: str) -> str:
    """``fn (path/to/module.py:12)`` → ``module.py:fn``, keeping the project's packages' paths."""
    if " (" not in frame:
        return frame
    function, location = frame.split(" (", 1)
    path = location.rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/work/main/", "/lib/python3.12/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{function}"


def profile_fold(raw: Path, top: int = 30) -> dict:
    """Self and inclusive sample shares per function, and per thread."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0]
        names = [_frame_name(f) for f in frames[1:]] or [thread]
        total += count
        threads[thread.split(": ", 1)[-1]] += count
        self_counts[names[-1]] += count
        for name in set(names):
            inclusive[name] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 2)) for name, n in counter.most_common(top)] if total else []

    return {"samples": total, "self_pct": share(self_counts), "inclusive_pct": share(inclusive),
            "threads_pct": share(threads)}  # fmt: skip
