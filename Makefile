# The two commands that matter: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed
# Installs come from uv.lock (every package pinned, with its hashes); uv itself is pinned here.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
# uv uses the venv's interpreter (scripts/find-python's) and never downloads one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint audit format bench bench-ab bench-dialects bench-instructions bench-peers bench-propagation bench-scale bench-signing venv compiled clean serve check screenshots lock

$(UV):
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)"

# --locked: a pyproject.toml whose dependencies changed without `make lock` stops here.
# --inexact: keeps what the venv has beyond the lock (pip, uv, pip-audit); `make clean` for a
# venv that is exactly the lock.
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --quiet --locked --inexact --extra dev --python $(PY) \
		|| { echo "make: uv.lock and pyproject.toml disagree, or an install failed: after a dependency change run 'make lock'" >&2; exit 1; }
	@touch $(STAMP)

venv: $(STAMP)

# The proxy's hot modules as C extensions built by mypyc beside their sources (core/compiled.py,
# scripts/compile_hot.py; about two minutes on two cores), again whenever one of them changes.
# Everything that runs the gateway depends on it. AIDGATE_COMPILE=false runs them as Python.
HOT_SOURCES := $(shell sed -n 's/^    "\(.*\.py\)",$$/\1/p' core/compiled.py)
COMPILED := .local/compiled.stamp
ifeq ($(AIDGATE_COMPILE),false)
.PHONY: $(COMPILED)
endif
# The script writes the stamp (and removes it for a pure-Python run).
$(COMPILED): $(STAMP) $(HOT_SOURCES) core/compiled.py scripts/compile_hot.py pyproject.toml
	$(PY) scripts/compile_hot.py

compiled: $(COMPILED)

# Re-resolve uv.lock after a change to pyproject.toml's dependencies; pins that still fit are
# kept. `make lock LOCK_ARGS=--upgrade` moves every pin to its newest release,
# `LOCK_ARGS="--upgrade-package genai-prices"` one package (the list prices, docs/providers.md).
lock: $(UV)
	$(UV) lock --python $(PY) $(LOCK_ARGS)

# Without DJANGO_SETTINGS_MODULE every entry point uses production settings unless DEBUG is
# true (SPEC 8): the targets that run the embedded default say so.
run serve check screenshots: export DEBUG := true

run: $(COMPILED)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo --history --port $(PORT)
	$(PY) -m uvicorn config.asgi:application --host 127.0.0.1 --port $(PORT) --loop uvloop --http httptools --no-access-log

serve: $(COMPILED)
	$(VENV)/bin/gunicorn -c config/gunicorn.py config.asgi:application -k uvicorn_worker.UvicornWorker -w $${WORKERS:-2} -b 127.0.0.1:$(PORT)

# One pytest-xdist worker per core, a test file at a time on one worker (module fixtures are
# started once); TEST_WORKERS=0 runs it in this process, as plain `pytest` does.
TEST_WORKERS ?= auto
# A run starts dozens of interpreters (the xdist workers, gateway processes, every `aidgate`
# call): where PYTHONDONTWRITEBYTECODE is set, as in many containers, each compiled every
# module it imports again (~4.5 CPU-seconds for a gateway process, 2.5 with bytecode). The
# bytecode goes to .local/pycache, out of the source tree and the venv.
test: export PYTHONDONTWRITEBYTECODE :=
test: export PYTHONPYCACHEPREFIX := $(CURDIR)/.local/pycache
test: $(COMPILED)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

lint: check

# Known vulnerabilities in the installed set (pip-audit, installed on first use). It needs
# PyPI's vulnerability data or OSV, which a registry mirror alone does not serve.
audit: $(STAMP)
	$(PY) -m pip install --quiet pip-audit
	$(VENV)/bin/pip-audit --progress-spinner off --skip-editable

# The benchmark (docs/performance.md): about ten minutes, loopback only, cleans up after itself.
bench: $(COMPILED)
	bash bench/run.sh

# Only the propagation phase: a configuration change a second under load, and how long until
# every process answers by it (a few minutes; docs/performance.md is left as it is).
bench-propagation: $(COMPILED)
	BENCH_PHASES=propagation BENCH_QUIET_WAIT_SECONDS=0 BENCH_TIMEOUT_SECONDS=600 bash bench/run.sh

# Only the peers phase: a one-worker aidgate, the bare passthrough and Portkey's gateway turn
# about at 64 connections (a few minutes; docs/performance.md is left as it is).
bench-peers: $(COMPILED)
	BENCH_PHASES=peers BENCH_QUIET_WAIT_SECONDS=$${BENCH_QUIET_WAIT_SECONDS:-30} BENCH_TIMEOUT_SECONDS=600 bash bench/run.sh

# Configuration at scale (docs/performance.md): 10,000 tenants, one with 100,000 agents and keys and
# 1,000 policies; request cost, propagation, worker memory, then the logs API at 5 and 20 million
# records. BENCH_SCALE_TENANTS, _AGENTS, _POLICIES, _LOGS_ROWS shrink it for a check, and
# BENCH_SCALE_PHASES (rebuild,instructions,wall,memory,logs) runs some of it only.
bench-scale: $(COMPILED)
	BENCH_ENTRY=bench.scale_bench BENCH_QUIET_WAIT_SECONDS=$${BENCH_QUIET_WAIT_SECONDS:-10} BENCH_TIMEOUT_SECONDS=$${BENCH_TIMEOUT_SECONDS:-2700} bash bench/run.sh

# Only the dialects phase: chat, /v1/messages and /v1/responses (plain and streamed, chat form and
# native) turn about, each as a ratio to chat (a few minutes; docs/performance.md is left as it is).
bench-dialects: $(COMPILED)
	BENCH_PHASES=dialects BENCH_QUIET_WAIT_SECONDS=$${BENCH_QUIET_WAIT_SECONDS:-30} bash bench/run.sh

# Only the signing phase: a request with X-Agent-Identity signed against the same request to a
# provider with it off, in alternating rounds, and the signature timed alone (bench/signing_cost.py).
bench-signing: $(COMPILED)
	BENCH_PHASES=signing BENCH_QUIET_WAIT_SECONDS=$${BENCH_QUIET_WAIT_SECONDS:-30} bash bench/run.sh

# Working tree against REF (default HEAD), both gateways up, runs interleaved (bench/ab_compare.py).
bench-ab: $(COMPILED)
	BENCH_ENTRY=bench.ab_compare BENCH_AB_REF=$(or $(REF),HEAD) bash bench/run.sh

# Instructions per request under valgrind's callgrind, the working tree (and REF when given), for
# the request scenarios of SCENARIOS (default chat; e.g. messages,messages-stream: chat is added).
bench-instructions: $(COMPILED)
	BENCH_ENTRY=bench.instruction_count BENCH_AB_REF=$(REF) BENCH_INSTR_SCENARIOS=$(or $(SCENARIOS),$(BENCH_INSTR_SCENARIOS),chat) bash bench/run.sh

# PNGs of the console (dashboard, playground, a log record) in docs/img/, from a seeded demo gateway
# driven by Debian's chromium (apt-get install -y chromium).
screenshots: $(STAMP)
	$(PY) -m tests.support.console_screenshots docs/img

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	AIDGATE_COMPILE=false python3 scripts/compile_hot.py
	rm -rf $(VENV) db.sqlite3 .local/mypyc
