"""gunicorn's settings for the gateway: ``gunicorn -c config/gunicorn.py config.asgi:application``.

What it adds to the command line is the metrics of ``GET /metrics`` (SPEC 8) summed over the
workers: every worker writes its values into ``PROMETHEUS_MULTIPROC_DIR``, a directory of this
gunicorn alone (one is made and removed with it when the variable is unset), emptied when
gunicorn starts, and a worker's live gauges are dropped when it exits. Its counters stay, so a
worker replaced after a crash does not make a counter go back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import multiprocess

worker_class = "uvicorn_worker.UvicornWorker"

# Set here, in the master, so that every worker it forks inherits it before prometheus-client
# is imported there (the library reads it once, at import).
_private_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _private_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="aidgate-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server) -> None:
    # Values a previous run left behind would be summed into this one's.
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid, path=str(METRICS_DIR))


def on_exit(server) -> None:
    if _private_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
