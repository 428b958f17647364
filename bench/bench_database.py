"""The benchmark's own PostgreSQL database and Redis database: recreated, used, dropped."""

from __future__ import annotations

import psycopg
import redis
from psycopg import sql

from bench.bench_settings import BenchSettings


def database_recreate(settings: BenchSettings) -> None:
    with psycopg.connect(settings.admin_database_url, autocommit=True) as conn:
        name = sql.Identifier(settings.database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def database_drop(settings: BenchSettings) -> None:
    if settings.keep_database:
        return  # BENCH_KEEP_DATABASE: left for a look at its data and plans; the next run recreates it
    with psycopg.connect(settings.admin_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.database)))


def redis_flush(settings: BenchSettings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def postgres_version(settings: BenchSettings) -> str:
    with psycopg.connect(settings.admin_database_url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def redis_stats(settings: BenchSettings) -> dict[str, float]:
    """Redis CPU seconds and the Lua scripts' call count and time, for per-request figures."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        cpu = client.info("cpu")
        commands = client.info("commandstats")
        version = client.info("server").get("redis_version", "")
    finally:
        client.close()
    evalsha = commands.get("cmdstat_evalsha", {})
    return {
        "cpu_seconds": float(cpu.get("used_cpu_user", 0.0)) + float(cpu.get("used_cpu_sys", 0.0)),
        "evalsha_calls": float(evalsha.get("calls", 0)),
        "evalsha_usec": float(evalsha.get("usec", 0)),
        "version": version,
    }


def limit_windows_clear(settings: BenchSettings) -> int:
    """Delete the limit store's counters (``aid:{tenant}:…``), keeping configuration generations
    (``aid:{tenant}:cfg:…``).

    Each measured run then starts from an empty one-minute window, so runs are comparable;
    what a full window costs is measured apart (``bench/limit_window_probe.py``).
    """
    client = redis.Redis.from_url(settings.redis_url)
    try:
        keys = [key for key in client.scan_iter(match="aid:{*", count=1000) if b"}:cfg:" not in key]
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def redis_zset_sizes(settings: BenchSettings, pattern: str) -> dict[str, int]:
    """ZCARD of the counters matching ``pattern`` (the limit store's sliding windows)."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        sizes = {}
        for key in client.scan_iter(match=pattern, count=1000):
            if client.type(key) == b"zset":
                sizes[key.decode()] = int(client.zcard(key))
        return sizes
    finally:
        client.close()


def rollup_progress(settings: BenchSettings, tenant_id: str) -> dict[str, int]:
    """How far the tenant's usage rollups got: watermark, chain head, rollup rows."""
    with psycopg.connect(settings.database_url.replace("postgres://", "postgresql://", 1)) as conn:
        through = conn.execute(
            "SELECT coalesce(max(through_seq), 0) FROM analytics_usagerollupstate WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()[0]
        head = conn.execute(
            "SELECT coalesce(max(last_seq), 0) FROM forensics_auditchainhead WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM analytics_usagerollup WHERE tenant_id = %s", (tenant_id,)).fetchone()[
            0
        ]
    return {"through_seq": int(through), "head_seq": int(head), "rollup_rows": int(rows)}


def record_outcomes(settings: BenchSettings) -> list[dict[str, object]]:
    """Every outcome other than a plain 200 the gateway recorded: what the wrk error counts were."""
    with psycopg.connect(settings.database_url.replace("postgres://", "postgresql://", 1)) as conn:
        rows = conn.execute(
            "SELECT endpoint, status_code, error_code, error_reason, count(*) FROM forensics_requestlog "
            "WHERE status_code <> 200 OR error_code IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC"
        ).fetchall()
    keys = ("endpoint", "status_code", "error_code", "error_reason", "count")
    return [dict(zip(keys, row, strict=True)) for row in rows]
