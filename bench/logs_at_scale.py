"""Logs API at scale: COPY millions of records into the bench database, then time the reads.

The list, filter and usage reads go through the running gateway when it serves them
(``GET /v1/logs``, ``GET /v1/agents/{id}/logs``, ``GET /v1/usage``); whatever it does not
serve yet is timed as the SQL the API would run over the same indexes, and the result says
which one was measured. Every query's p95 is taken over repeated calls after one cold call.

Run with the gateway's DATABASE_URL: ``python -m bench.logs_at_scale --rows N --seed F --gateway URL --out F``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from bench.log_rows import (
    COLUMNS,
    COMMON_MODEL,
    DAYS,
    RARE_MODEL,
    RARE_STATUS,
    UNCOMMON_STATUS,
    USERS,
    LogShape,
    log_rows,
    tenant_counts,
)

TABLE = "forensics_requestlog"
TABLE_ID = sql.Identifier(TABLE)
PAGE = 20


@dataclass(slots=True)
class QueryTiming:
    name: str
    via: str  # http | sql
    what: str
    first_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    rows: int | None = None
    samples: int = 0


@dataclass(slots=True)
class LoadTiming:
    rows: int
    generate_and_copy_s: float
    index_build_s: float
    analyze_s: float
    table_mb: float
    indexes_mb: float
    rollup: dict | None = None  # the usage rollups' catch-up run beside the index builds


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def _month(moment: datetime, months: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partitions_cover(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    """On PostgreSQL's partitioned records table, the month partitions of ``[start, end]``
    (named as forensics.partitions names them), so that no loaded row lands in DEFAULT."""
    kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (TABLE,)).fetchone()
    if kind is None or kind[0] != "p":
        return
    month = _month(start.astimezone(UTC))
    while month <= end:
        following = _month(month, 1)
        name = sql.Identifier(f"{TABLE}_y{month:%Y}m{month:%m}")
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                name, TABLE_ID, sql.Literal(month), sql.Literal(following)
            )
        )
        month = following


# The records' own indexes the usage rollups read by: built first, so that the rollups'
# catch-up can fold while the rest are built.
ROLLUP_INDEXES = ("log_tenant_time",)
LOAD_PARTS = 2  # COPY streams side by side: the rows' generation in Python is the slower half


def _copy_part(
    url: str, shape: LogShape, heads: dict[str, int], end: datetime, first_row: int, part: tuple[int, int]
) -> None:
    """One range of the load, COPYed on a connection of its own (a process of its own)."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET synchronous_commit = off")
        with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(TABLE_ID, columns)) as copy:
            for chunk in log_rows(shape, heads, end=end, first_row=first_row, part=part):
                copy.write(chunk)


def _copy_parallel(url: str, shape: LogShape, heads: dict[str, int], end: datetime, first_row: int) -> dict[str, int]:
    """COPY the load in ``LOAD_PARTS`` ranges side by side; the chain heads after it.

    Each range starts from the heads its earlier ranges leave (``tenant_counts``), so every
    tenant's chain positions follow on without a gap, in time order across the ranges."""
    size = -(-shape.rows // LOAD_PARTS)
    parts = [(start, min(size, shape.rows - start)) for start in range(0, shape.rows, size)]
    starts, running = [], dict(heads)
    for start, count in parts:
        starts.append(dict(running))
        for tenant, n in tenant_counts(shape, first_row + start, count).items():
            running[tenant] = running.get(tenant, 0) + n
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    workers = [
        context.Process(target=_copy_part, args=(url, shape, start_heads, end, first_row, part))
        for part, start_heads in zip(parts, starts, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if any(worker.exitcode != 0 for worker in workers):
        raise RuntimeError(f"a COPY part failed: exit codes {[w.exitcode for w in workers]}")
    return running


def _indexes_build(url: str, definitions: list[str], lanes: int) -> None:
    """Run the CREATE INDEX statements on ``lanes`` connections side by side (one core each:
    PostgreSQL's parallel workers gained little here, a second build gains more)."""
    queue = list(definitions)
    failures: list[BaseException] = []

    def lane() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            while queue and not failures:
                definition = queue.pop(0)
                try:
                    conn.execute(sql.SQL(definition))
                except BaseException as exc:  # reported by the caller, after the other lane stops
                    failures.append(exc)

    threads = [threading.Thread(target=lane) for _ in range(max(1, lanes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _heads_move(conn: psycopg.Connection, heads: dict[str, int], refold: str | None) -> None:
    """The chain heads move past the loaded records, as the sealer would have moved them.
    Only once the rollups' indexes exist: a beat task's rollup run folds up to the head, and
    before them each of its queries would read the whole table.

    ``refold``: that tenant's usage rollups start again from the first record, in the same
    transaction (under its rollup lock). The loaded history is older than the records the
    bench's earlier phases wrote and the beat folded, so from where the rollups stood every
    loaded record would be a late one, each batch rebuilding the closed blocks around its
    hours (about three times slower); from the start, the history folds in time order."""
    with conn.transaction():
        if refold is not None:
            conn.execute("SELECT 1 FROM analytics_usagerollupstate WHERE tenant_id = %s FOR UPDATE", (refold,))
            conn.execute("DELETE FROM analytics_usagerollup WHERE tenant_id = %s", (refold,))
            conn.execute(
                "UPDATE analytics_usagerollupstate SET through_seq = 0, closed_until = NULL WHERE tenant_id = %s",
                (refold,),
            )
        for tenant_id, last_seq in heads.items():
            conn.execute(
                """INSERT INTO forensics_auditchainhead (tenant_id, last_seq, last_hash, updated_at)
                VALUES (%s, %s, %s, now()) ON CONFLICT (tenant_id) DO UPDATE SET last_seq = EXCLUDED.last_seq""",
                (tenant_id, last_seq, "0" * 64),
            )


def _rollup_start(tenant_id: str) -> subprocess.Popen:
    """``bench.usage_rollup_catchup`` for the tenant, in a process of its own (the loader's
    environment: the gateway's settings)."""
    return subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bench.usage_rollup_catchup", "--tenant", tenant_id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def rows_load(
    conn: psycopg.Connection,
    url: str,
    shape: LogShape,
    first_row: int = 0,
    *,
    rollup_tenant: str | None = None,
    rollup_seconds: float = 0.0,
) -> LoadTiming:
    """Bulk load: drop the secondary indexes, COPY, rebuild them, ANALYZE (as a restore would).

    With ``first_row`` the rows are added to those of an earlier load (numbered on from it,
    their chain positions after its); the indexes are then rebuilt over both.

    On a partitioned table the COPY goes through the parent, which routes each row to its
    month; the indexes are the parent's, dropped and declared again there for every partition.

    The work is spread over both cores of the bench machine: the COPY in ranges side by side,
    then the constraints and the rollups' index, then, with ``rollup_tenant``, that tenant's
    usage rollups catch up (``bench.usage_rollup_catchup``, for at most ``rollup_seconds``)
    while the other indexes are built on the other core; without it, two index builds run
    side by side."""
    conn.execute("SET maintenance_work_mem = '1GB'")
    end = datetime.now(UTC)
    partitions_cover(conn, end - timedelta(days=DAYS), end)
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s",
        (TABLE, "%_pkey"),
    ).fetchall()
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'",
        (TABLE,),
    ).fetchall()
    constraint_names = {c for c, _ in constraints}
    with conn.transaction():
        for name, _ in constraints:
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(TABLE_ID, sql.Identifier(name)))
        for name, _ in indexes:
            if name not in constraint_names:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    started = time.perf_counter()
    heads = dict(conn.execute("SELECT tenant_id, last_seq FROM forensics_auditchainhead").fetchall())
    heads = _copy_parallel(url, shape, heads, end, first_row)
    copied = time.perf_counter()
    # As PostgreSQL itself printed them (pg_indexes); a partitioned table's indexes print as
    # "ON ONLY" the parent, which would not reach the partitions.
    plain = {
        name: definition.replace(" ON ONLY ", " ON ") for name, definition in indexes if name not in constraint_names
    }
    with conn.transaction():
        for name, definition in constraints:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    TABLE_ID, sql.Identifier(name), sql.SQL(definition)
                )
            )
    first = [plain.pop(name) for name in ROLLUP_INDEXES if name in plain]
    _indexes_build(url, first, lanes=1)
    conn.execute(sql.SQL("ANALYZE {}").format(TABLE_ID))
    if rollup_tenant is not None:
        # Only the timed tenant's chain moves: the beat folds every tenant whose head passed its
        # watermark, and folding the other tenants' loaded fifth beside the timed reads took a
        # core from them (usage p95 72-113 ms over HTTP at 5M on 2026-12-07 14:28, 22-39 before).
        heads = {rollup_tenant: heads[rollup_tenant]}
    _heads_move(conn, heads, refold=rollup_tenant)
    rollup = _rollup_start(rollup_tenant) if rollup_tenant else None
    rollup_started = time.perf_counter()
    _indexes_build(url, list(plain.values()), lanes=1 if rollup else 2)
    indexed = time.perf_counter()
    rollup_result: dict | None = None
    if rollup is not None:
        try:
            out, err = rollup.communicate(timeout=max(1.0, rollup_seconds - (indexed - rollup_started)))
            if rollup.returncode != 0:
                rollup_result = {"finished": False, "error": err[-1500:]}
            else:
                rollup_result = {"finished": True, **json.loads(out.strip().splitlines()[-1])}
        except subprocess.TimeoutExpired:
            rollup.kill()
            rollup.communicate()
            rollup_result = {"finished": False}
        rollup_result["seconds"] = round(time.perf_counter() - rollup_started, 1)
    analyze_started = time.perf_counter()
    conn.execute(sql.SQL("ANALYZE {}").format(TABLE_ID))
    analyzed = time.perf_counter()
    # Summed over the partitions (a partitioned parent has no storage of its own).
    table_bytes, index_bytes = conn.execute(
        "SELECT sum(pg_table_size(relid))::bigint, sum(pg_indexes_size(relid))::bigint "
        "FROM pg_partition_tree(%s::regclass)",
        (TABLE,),
    ).fetchone()
    return LoadTiming(
        rows=shape.rows,
        generate_and_copy_s=round(copied - started, 1),
        index_build_s=round(indexed - copied, 1),
        analyze_s=round(analyzed - analyze_started, 1),
        table_mb=round(table_bytes / 2**20, 1),
        indexes_mb=round(index_bytes / 2**20, 1),
        rollup=rollup_result,
    )


def timed(
    name: str, via: str, what: str, call: Callable[[int], int | None], repeats: int, budget_s: float = 10.0
) -> QueryTiming:
    """One cold call, then up to ``repeats`` calls within ``budget_s``; ``call(i)`` may vary with ``i``."""
    started = time.perf_counter()
    rows = call(0)
    first = (time.perf_counter() - started) * 1000
    samples = []
    deadline = time.perf_counter() + budget_s
    for i in range(1, repeats + 1):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
        if time.perf_counter() > deadline:
            break
    return QueryTiming(
        name, via, what, round(first, 2), round(_percentile(samples, 50), 2), round(_percentile(samples, 95), 2),
        round(max(samples), 2), rows, len(samples),
    )  # fmt: skip


class LogsApi:
    """The gateway's management API, if it serves the logs and usage endpoints."""

    def __init__(self, base: str, org_key: str) -> None:
        self.base = base.rstrip("/")
        self.org_key = org_key

    def get(self, path: str) -> tuple[int, dict | None]:
        request = urllib.request.Request(f"{self.base}{path}", headers={"Authorization": f"Bearer {self.org_key}"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own gateway on loopback
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            error.read()
            return error.code, None
        except (urllib.error.URLError, TimeoutError):
            return 0, None

    def serves(self, path: str) -> bool:
        status, _ = self.get(path)
        return status == 200

    def caller(self, path_of: Callable[[int], str]) -> Callable[[int], int | None]:
        def call(i: int) -> int | None:
            status, body = self.get(path_of(i))
            if status != 200:
                raise RuntimeError(f"GET {path_of(i)} answered {status}")
            return len(body.get("data") or body.get("groups") or []) if isinstance(body, dict) else None

        return call


def sql_caller(
    conn: psycopg.Connection, query: sql.Composable, params_of: Callable[[int], tuple]
) -> Callable[[int], int]:
    def call(i: int) -> int:
        return len(conn.execute(query, params_of(i)).fetchall())

    return call


LIST_SQL = sql.SQL(
    "SELECT * FROM forensics_requestlog WHERE tenant_id = %s {where} ORDER BY created_at DESC, id DESC LIMIT 21"
)
USAGE_TOTALS_SQL = sql.SQL(
    """SELECT count(*), count(*) FILTER (WHERE status_code >= 400), sum(prompt_tokens), sum(completion_tokens),
    sum(cost_usd), percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
    FROM forensics_requestlog WHERE tenant_id = %s AND created_at >= now() - %s::interval {where}"""
)
USAGE_GROUPS_SQL = sql.SQL(
    """SELECT {key} AS key, count(*), count(*) FILTER (WHERE status_code >= 400), sum(prompt_tokens),
    sum(completion_tokens), sum(cost_usd), percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
    FROM forensics_requestlog WHERE tenant_id = %s AND created_at >= now() - %s::interval {where}
    GROUP BY 1 ORDER BY 1"""
)
SEALER_TENANTS_SQL = sql.SQL("SELECT DISTINCT tenant_id FROM forensics_requestlog WHERE sealed_at IS NULL")
SEALER_PENDING_SQL = sql.SQL(
    "SELECT * FROM forensics_requestlog WHERE tenant_id = %s AND sealed_at IS NULL ORDER BY created_at, id LIMIT 5000"
)
CURSOR_ROW_SQL = sql.SQL(
    "SELECT id, created_at FROM forensics_requestlog WHERE tenant_id = %s "
    "ORDER BY created_at DESC, id DESC OFFSET 1000 LIMIT 1"
)


def list_sql(where: str) -> sql.Composed:
    """The list query with one of the fixed filter fragments below (values go as parameters)."""
    return LIST_SQL.format(where=sql.SQL(where))


def usage_sql(key: str, where: str) -> sql.Composed:
    if key:
        return USAGE_GROUPS_SQL.format(key=sql.SQL(key), where=sql.SQL(where))
    return USAGE_TOTALS_SQL.format(where=sql.SQL(where))


def reads_time(
    conn: psycopg.Connection, api: LogsApi, seed: dict, shape: LogShape, repeats: int, *, usage_over_http: bool
) -> list[QueryTiming]:
    tenant, agents = seed["tenant_id"], shape.agent_ids()

    def user(i: int) -> str:
        return LogShape.user((i * 37) % USERS)

    timings: list[QueryTiming] = []
    logs_http = api.serves("/v1/logs?limit=1")
    # Without up-to-date rollups every usage call folds millions of records in Python: that is
    # measured by the rollup catch-up instead of by calls that would each take minutes.
    usage_http = usage_over_http and api.serves("/v1/usage")
    cursor_row = conn.execute(CURSOR_ROW_SQL, (tenant,)).fetchone()

    page = f"/v1/logs?limit={PAGE}"
    lists: list[tuple[str, str, Callable[[int], str], str, Callable[[int], tuple]]] = [
        ("logs_list", "newest page", lambda i: f"/v1/logs?limit={PAGE}", "", lambda i: (tenant,)),
        (
            "logs_list_after", "page after a cursor 1,000 records deep",
            lambda i: f"/v1/logs?limit={PAGE}&after={cursor_row[0]}",
            "AND (created_at, id) < (%s, %s)", lambda i: (tenant, cursor_row[1], cursor_row[0]),
        ),
        (
            "logs_filter_user", "user=… (one of 2,000)", lambda i: f"/v1/logs?limit={PAGE}&user={user(i)}",
            'AND "user" = %s', lambda i: (tenant, user(i)),
        ),
        (
            "logs_filter_agent", "/v1/agents/{id}/logs (one of 50)",
            lambda i: f"/v1/agents/{agents[0]}/logs?limit={PAGE}",
            "AND agent_id = %s", lambda i: (tenant, agents[0]),
        ),
        (
            "logs_filter_model_common", f"model={COMMON_MODEL} (20%)", lambda i: f"{page}&model={COMMON_MODEL}",
            "AND model_requested = %s", lambda i: (tenant, COMMON_MODEL),
        ),
        (
            "logs_filter_model_rare", f"model={RARE_MODEL} (0.1%)", lambda i: f"{page}&model={RARE_MODEL}",
            "AND model_requested = %s", lambda i: (tenant, RARE_MODEL),
        ),
        (
            "logs_filter_status_uncommon", f"status={UNCOMMON_STATUS} (0.4%)",
            lambda i: f"/v1/logs?limit={PAGE}&status={UNCOMMON_STATUS}",
            "AND status_code = %s", lambda i: (tenant, UNCOMMON_STATUS),
        ),
        (
            "logs_filter_status_rare", f"status={RARE_STATUS} (0.1%)", lambda i: f"{page}&status={RARE_STATUS}",
            "AND status_code = %s", lambda i: (tenant, RARE_STATUS),
        ),
        (
            "logs_filter_user_model", f"user=… and model={COMMON_MODEL}",
            lambda i: f"/v1/logs?limit={PAGE}&user={user(i)}&model={COMMON_MODEL}",
            'AND "user" = %s AND model_requested = %s', lambda i: (tenant, user(i), COMMON_MODEL),
        ),
    ]  # fmt: skip
    for name, what, path_of, where, params_of in lists:
        if logs_http:
            timings.append(timed(name, "http", what, api.caller(path_of), repeats))
        timings.append(timed(name, "sql", what, sql_caller(conn, list_sql(where), params_of), repeats))

    since_24h = (datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    usage: list[tuple[str, str, str, str, str, Callable[[int], tuple]]] = [
        ("usage_totals_30d", "totals, last 30 days", "/v1/usage", "", "", lambda i: (tenant, "30 days")),
        (
            "usage_by_model_30d", "group_by=model, last 30 days", "/v1/usage?group_by=model", "model_requested", "",
            lambda i: (tenant, "30 days"),
        ),
        (
            "usage_by_day_30d", "group_by=day, last 30 days", "/v1/usage?group_by=day",
            "date_trunc('day', created_at)", "", lambda i: (tenant, "30 days"),
        ),
        (
            "usage_agent_by_model_30d", "one agent, group_by=model, 30 days",
            f"/v1/agents/{agents[0]}/usage?group_by=model", "model_requested", "AND agent_id = %s",
            lambda i: (tenant, "30 days", agents[0]),
        ),
        (
            "usage_by_hour_24h", "group_by=hour, last 24 hours", f"/v1/usage?group_by=hour&since={since_24h}",
            "date_trunc('hour', created_at)", "", lambda i: (tenant, "24 hours"),
        ),
    ]  # fmt: skip
    usage_repeats = max(5, repeats // 4)
    for name, what, path, key, where, params_of in usage:
        if usage_http:
            timings.append(timed(name, "http", what, api.caller(lambda i, p=path: p), usage_repeats))
        else:
            # The aggregate over the raw records stands in for an API that cannot answer yet.
            # Beside the API's own reads it measures nothing the API runs, and at 20M records
            # its calls took several minutes of the bench's 45.
            query = usage_sql(key, where)
            timings.append(timed(name, "sql", what, sql_caller(conn, query, params_of), usage_repeats))

    # End users (SPEC 5.8): not among the targets' timed reads, timed because a tenant's first
    # page once grouped every record the tenant holds. An agent filter still groups its records.
    if logs_http:
        for name, what, path in (
            ("users_first_page", "GET /v1/users, first page", f"/v1/users?limit={PAGE}"),
            (
                "users_agent_page",
                "GET /v1/users?agent_id=… (one of 50)",
                f"/v1/users?limit={PAGE}&agent_id={agents[0]}",
            ),
        ):
            timings.append(timed(name, "http", what, api.caller(lambda i, p=path: p), usage_repeats))

    timings.append(
        timed("sealer_tenants", "sql", "in-process sealer: tenants with unsealed records",
              sql_caller(conn, SEALER_TENANTS_SQL, lambda i: ()), 5)
    )  # fmt: skip
    timings.append(
        timed("sealer_pending", "sql", "sealer: a tenant's next unsealed batch",
              sql_caller(conn, SEALER_PENDING_SQL, lambda i: (tenant,)), 5)
    )  # fmt: skip
    return timings


def plans_capture(conn: psycopg.Connection, seed: dict, *, raw_usage: bool) -> dict[str, str]:
    """EXPLAIN of the slowest shapes, for the findings (the raw usage aggregate only when it
    was what the usage reads timed)."""
    tenant = seed["tenant_id"]
    plans = {}
    shapes = [
        ("logs_filter_status_rare", list_sql("AND status_code = %s"), (tenant, RARE_STATUS)),
        ("sealer_pending", SEALER_PENDING_SQL, (tenant,)),
    ]
    if raw_usage:
        shapes.append(("usage_by_model_30d", usage_sql("model_requested", ""), (tenant, "30 days")))
    for name, query, params in shapes:
        rows = conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(query), params).fetchall()
        plans[name] = "\n".join(r[0] for r in rows)
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["load", "time"])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--first-row", type=int, default=0, help="add to an earlier load of this many rows")
    parser.add_argument(
        "--rollup-seconds", type=float, default=0.0, help="fold the usage rollups beside the index builds"
    )
    parser.add_argument("--seed", type=Path, required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--usage-over-http", action="store_true", help="rollups are up to date: time /v1/usage")
    args = parser.parse_args()
    seed = json.loads(args.seed.read_text())
    shape = LogShape(
        tenant_id=seed["tenant_id"], app_id=seed["app_id"], agent_id=seed["agent_id"],
        provider_id=seed["provider_id"], policy_id=seed["policy_id"], rows=args.rows,
    )  # fmt: skip
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        if args.phase == "load":
            load = rows_load(
                conn, url, shape, args.first_row,
                rollup_tenant=seed["tenant_id"] if args.rollup_seconds > 0 else None,
                rollup_seconds=args.rollup_seconds,
            )  # fmt: skip
            result: dict = {"load": asdict(load)}
        else:
            api = LogsApi(args.gateway, seed["org_key"])
            timings = reads_time(conn, api, seed, shape, args.repeats, usage_over_http=args.usage_over_http)
            usage_served = any(t.via == "http" and t.name.startswith("usage") for t in timings)
            result = {
                "table_rows": conn.execute(sql.SQL("SELECT count(*) FROM {}").format(TABLE_ID)).fetchone()[0],
                "logs_api_served": any(t.via == "http" and t.name.startswith("logs") for t in timings),
                "usage_api_served": usage_served,
                "timings": [asdict(t) for t in timings],
                "plans": plans_capture(conn, seed, raw_usage=not usage_served),
            }
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: v for k, v in result.items() if k in ("load", "table_rows")}))


if __name__ == "__main__":
    main()
