#!/usr/bin/env bash
# `make bench`: runs bench/run_bench.py with a trap that ends every process this run started
# (by the pids it recorded, never by name) and drops the bench database, however it exits.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
export BENCH_RUN_DIR="${BENCH_RUN_DIR:-bench/results/run-$STAMP}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$BENCH_RUN_DIR/pids"

cleanup() {
  local pidfile pid
  for pidfile in "$BENCH_RUN_DIR"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    # Each child leads its own process group: end the group (gunicorn's workers with it).
    kill -TERM -- "-$pid" 2>/dev/null
  done
  sleep 1
  for pidfile in "$BENCH_RUN_DIR"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null
    rm -f "$pidfile"
  done
  rm -f "$BENCH_RUN_DIR"/seed.json "$BENCH_RUN_DIR"/*headers*.json "$BENCH_RUN_DIR"/litellm.yaml
  "$PY" -c 'from bench import bench_database as d, bench_settings as s; c = s.settings_from_env(); d.database_drop(c); d.redis_flush(c)' \
    2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v wrk >/dev/null; then
  echo "[bench] installing wrk from Debian's packages" >&2
  { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1 || { echo "[bench] wrk could not be installed" >&2; exit 1; }
fi
# Many open streams need many file descriptors (client, gateway and upstream side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The whole run is bounded: the orchestrator is stopped (and the trap cleans up) past this.
timeout --signal=TERM --kill-after=30 "${BENCH_TIMEOUT_SECONDS:-1500}" "$PY" -m "${BENCH_ENTRY:-bench.run_bench}"
