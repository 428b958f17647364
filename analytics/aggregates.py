"""Records summed by SQL into usage cells: the rows of the finest blocks, and raw stretches.

One statement reads a block's records once and groups them per cell and whole millisecond of
latency, then per cell: counts, sums and the ``{"<ms>": count}`` histogram; rows of 1-hour
blocks also get their p50 and p95 (a group made of one such row needs nothing else). Building
rows is ``INSERT … SELECT`` on that statement, so records never travel to Python.

The SQL is the same on PostgreSQL and SQLite but for a few fragments (:class:`Dialect`).
Percentiles are ``percentile_disc`` on PostgreSQL (an ordered-set aggregate, several times
cheaper than window sums there; its rank ``ceil(q * n)`` is the nearest rank of
``analytics.latency`` for any count a block can hold) and window sums compared in integers on
SQLite, which has no ``percentile_disc``. SQLite keeps ``cost_usd`` as a float, so there it
is summed in integer units of 1e-8 USD, exact for every cost a record can hold.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from django.db import connection

from analytics.latency import MEDIAN, P95
from analytics.models import Breakdown

# Records summed by endpoint: read from the records themselves, never kept in rollup rows
# (see ``analytics.selectors._breakdowns`` for why), so it is no ``Breakdown``.
BY_ENDPOINT = "endpoint"
# The SQL expressions of a cell's agent and value over ``recs``, per breakdown.
CELL = {
    Breakdown.TOTAL: ("''", "''"),
    Breakdown.MODEL: ("''", "model"),
    Breakdown.APP: ("''", "app"),
    Breakdown.AGENT: ("agent", "''"),
    Breakdown.AGENT_MODEL: ("agent", "model"),
    Breakdown.AGENT_APP: ("agent", "app"),
    Breakdown.USER: ("''", "usr"),
    BY_ENDPOINT: ("''", "ep"),
}
RECORDS = """recs AS (
    SELECT COALESCE(agent_id, '') AS agent, COALESCE(app_id, '') AS app, COALESCE(model_requested, '') AS model,
        COALESCE("user", '') AS usr, endpoint AS ep, {ms} AS ms, CASE WHEN status_code >= 400 THEN 1 ELSE 0 END AS err,
        prompt_tokens, completion_tokens, COALESCE({cost}, 0) AS cost,
        CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END AS unp
    FROM forensics_requestlog
    WHERE tenant_id = %s AND created_at >= %s AND created_at < %s{where}
)"""
CELLS = """SELECT '{breakdown}' AS breakdown, {agent} AS agent_id, {value} AS value, ms, COUNT(*) AS n,
    SUM(err) AS e, SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c, SUM(cost) AS cost, SUM(unp) AS u
    FROM recs GROUP BY {group}"""
TOTALS = """totals AS (
    SELECT breakdown, agent_id, value, SUM(n) AS n, SUM(e) AS e, SUM(p) AS p, SUM(c) AS c, {cost_sum} AS cost,
        SUM(u) AS u, {counts} AS counts
    FROM cells GROUP BY breakdown, agent_id, value
)"""
PERCENTILE_DISC = """SELECT '{breakdown}' AS breakdown, {agent} AS agent_id, {value} AS value,
    percentile_disc({p50}) WITHIN GROUP (ORDER BY ms) AS p50, percentile_disc({p95}) WITHIN GROUP (ORDER BY ms) AS p95
    FROM recs{group}"""
PERCENTILE_WINDOW = """SELECT breakdown, agent_id, value, MIN(CASE WHEN {p50} THEN ms END) AS p50,
    MIN(CASE WHEN {p95} THEN ms END) AS p95
    FROM (
        SELECT breakdown, agent_id, value, ms,
            SUM(n) OVER (PARTITION BY breakdown, agent_id, value ORDER BY ms) AS below,
            SUM(n) OVER (PARTITION BY breakdown, agent_id, value) AS cell_n
        FROM cells WHERE breakdown IN ({breakdowns})
    ) AS ranked
    GROUP BY breakdown, agent_id, value"""
BUILD = """WITH {records}, cells AS ({cells}), {totals}{percentiles}
INSERT INTO analytics_usagerollup (tenant_id, span, bucket_start, breakdown, agent_id, value, requests, errors,
    unpriced_requests, prompt_tokens, completion_tokens, cost_usd, latency_p50_ms, latency_p95_ms, latency_counts,
    latency_pages, through_seq, computed_at)
SELECT %s, %s, %s, totals.breakdown, totals.agent_id, totals.value, n, e, u, p, c, cost, {p50}, {p95}, counts, NULL,
    %s, %s
FROM totals{join}"""
ROWS = """SELECT span, bucket_start, through_seq, agent_id, value, requests, errors, unpriced_requests, prompt_tokens,
    completion_tokens, cost_usd, latency_counts, latency_pages, latency_p50_ms, latency_p95_ms
FROM analytics_usagerollup
WHERE tenant_id = %s AND breakdown = %s AND span = %s AND bucket_start >= %s AND bucket_start <= %s{agent}"""
AGGREGATE = """WITH {records}, cells AS ({cells})
SELECT agent_id, value, SUM(n), SUM(e), SUM(p), SUM(c), SUM(cost), SUM(u), {counts} FROM cells
GROUP BY agent_id, value"""


@dataclass(frozen=True, slots=True)
class Dialect:
    ms: str  # whole milliseconds, half up (as analytics.usage_totals.latency_bucket)
    cost: str  # one record's cost, in a type that sums exactly
    cost_sum: str  # the sum of those, as stored in a rollup row
    counts: str  # the {"<ms>": count} JSON text of a cell
    cost_unit: Decimal  # what one unit of the ``cost`` sum is worth in USD
    percentile_disc: bool

    @classmethod
    def current(cls) -> Dialect:
        if connection.vendor == "postgresql":
            return cls(
                "FLOOR(latency_ms + 0.5)::bigint", "cost_usd", "SUM(cost)", "json_object_agg(ms, n)::text", Decimal(1),
                percentile_disc=True,
            )  # fmt: skip
        return cls(
            "CAST(FLOOR(latency_ms + 0.5) AS INTEGER)", "CAST(ROUND(cost_usd * 100000000) AS INTEGER)",
            "SUM(cost) / 100000000.0", "json_group_object(ms, n)", Decimal("0.00000001"), percentile_disc=False,
        )  # fmt: skip


def _rank_test(q: Fraction) -> str:
    """``below >= ceil(q * n)``, i.e. ``den * below >= num * n``: the nearest-rank rule in integers."""
    return f"{q.denominator} * below >= {q.numerator} * cell_n"


def _columns(breakdown: str) -> list[str]:
    return [column for column in CELL[breakdown] if column != "''"]


def _cells(breakdowns: list[str]) -> str:
    selects = []
    for breakdown in breakdowns:
        agent, value = CELL[breakdown]
        group = ", ".join([*_columns(breakdown), "ms"])
        selects.append(CELLS.format(breakdown=breakdown, agent=agent, value=value, group=group))
    return "\nUNION ALL ".join(selects)


def _percentiles(dialect: Dialect, breakdowns: list[str]) -> str:
    if not dialect.percentile_disc:
        listed = ", ".join(f"'{breakdown}'" for breakdown in breakdowns)
        return PERCENTILE_WINDOW.format(p50=_rank_test(MEDIAN), p95=_rank_test(P95), breakdowns=listed)
    selects = []
    for breakdown in breakdowns:
        agent, value = CELL[breakdown]
        group = f" GROUP BY {', '.join(_columns(breakdown))}" if _columns(breakdown) else ""
        selects.append(
            PERCENTILE_DISC.format(
                breakdown=breakdown, agent=agent, value=value, p50=float(MEDIAN), p95=float(P95), group=group
            )
        )
    return "\nUNION ALL ".join(selects)


def _datetime(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


def cells_build(
    *,
    tenant_id: str,
    breakdowns: list[str],
    span: int,
    start: datetime,
    end: datetime,
    through_seq: int,
    computed_at: datetime,
    percentiles: list[str],
) -> None:
    """Insert the rows of block ``[start, end)`` for ``breakdowns`` from its records up to ``through_seq``.

    The block's old rows of those breakdowns must be deleted first. Rows of the breakdowns in
    ``percentiles`` store their p50 and p95; the others' are computed from the histogram when
    needed.
    """
    dialect = Dialect.current()
    sql = BUILD.format(
        records=RECORDS.format(ms=dialect.ms, cost=dialect.cost, where=" AND seq <= %s"), cells=_cells(breakdowns),
        totals=TOTALS.format(cost_sum=dialect.cost_sum, counts=dialect.counts),
        percentiles=f", percentiles AS ({_percentiles(dialect, percentiles)})" if percentiles else "",
        p50="percentiles.p50" if percentiles else "NULL", p95="percentiles.p95" if percentiles else "NULL",
        join=" LEFT JOIN percentiles USING (breakdown, agent_id, value)" if percentiles else "",
    )  # fmt: skip
    params = [tenant_id, _datetime(start), _datetime(end), through_seq]
    params += [tenant_id, span, _datetime(start), through_seq, _datetime(computed_at)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@dataclass(frozen=True, slots=True)
class CellAggregate:
    agent_id: str
    value: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    counts: str
    unpriced_requests: int = 0


def cells_aggregate(
    *, tenant_id: str, breakdown: str, start: datetime, end: datetime, agent_id: str | None = None
) -> list[CellAggregate]:
    """The cells of ``breakdown`` summed over every record of ``[start, end)``, sealed or not."""
    dialect = Dialect.current()
    where = " AND agent_id = %s" if agent_id is not None else ""
    sql = AGGREGATE.format(
        records=RECORDS.format(ms=dialect.ms, cost=dialect.cost, where=where), cells=_cells([breakdown]),
        counts=dialect.counts,
    )  # fmt: skip
    params = [tenant_id, _datetime(start), _datetime(end), *([agent_id] if agent_id is not None else [])]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        CellAggregate(
            agent_id=agent,
            value=value,
            requests=int(n),
            errors=int(e),
            prompt_tokens=int(p),
            completion_tokens=int(c),
            cost_usd=Decimal(cost) * dialect.cost_unit,
            counts=counts,
            unpriced_requests=int(u),
        )
        for agent, value, n, e, p, c, cost, u, counts in rows
    ]


# How Django reads a DecimalField that SQLite stored as a float.
SQLITE_DECIMAL = decimal.Context(prec=15).create_decimal_from_float
EIGHT_PLACES = Decimal("0.00000001")


def _sqlite_datetime(value: str | datetime) -> datetime:
    """SQLite gives a column of a UNION as text (a single SELECT's as a naive datetime): UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sqlite_decimal(value: float | int | Decimal) -> Decimal:
    if isinstance(value, float):
        return SQLITE_DECIMAL(value).quantize(EIGHT_PLACES)
    return Decimal(value).quantize(EIGHT_PLACES)


def rows_read(
    *, tenant_id: str, breakdown: str, blocks: list[tuple[int, datetime]], agent_id: str | None = None
) -> list[tuple]:
    """The rows of ``breakdown`` (and of one agent) in ``blocks`` (span, start), as ``ROWS`` lists them.

    One index range per run of consecutive blocks of a span, joined by ``UNION ALL``: each is
    an equality on the index's leading columns and a range on ``bucket_start``, which the
    planner reads from the index even before the table has statistics (an ``OR`` of the
    blocks may be read as a scan of the whole breakdown). Raw SQL: building this query with
    the ORM costs several milliseconds, as much as running it.
    """
    runs: list[tuple[int, datetime, datetime]] = []
    starts: dict[int, list[datetime]] = defaultdict(list)
    for span, start in blocks:
        starts[span].append(start)
    for span, span_starts in starts.items():
        span_starts.sort()
        first = last = span_starts[0]
        for start in span_starts[1:]:
            if (start - last).total_seconds() != span * 3600:
                runs.append((span, first, last))
                first = start
            last = start
        runs.append((span, first, last))
    branch = ROWS.format(agent=" AND agent_id = %s" if agent_id is not None else "")
    params: list = []
    for span, first, last in runs:
        params += [tenant_id, breakdown, span, _datetime(first), _datetime(last)]
        params += [agent_id] if agent_id is not None else []
    with connection.cursor() as cursor:
        cursor.execute("\nUNION ALL\n".join([branch] * len(runs)), params)
        rows = cursor.fetchall()
    if connection.vendor != "sqlite":
        return rows
    return [
        (span, _sqlite_datetime(start), *middle, _sqlite_decimal(cost), counts, pages, p50, p95)
        for span, start, *middle, cost, counts, pages, p50, p95 in rows
    ]
