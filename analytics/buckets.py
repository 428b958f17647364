"""Rollup blocks in time, and how a window is covered by blocks and raw stretches.

A block is ``[start, start + span)`` with a span in hours: 1, 2, 4 or 8 hours, aligned within
the UTC day, or 1, 2, 4, 8, 16 or 32 days, aligned on whole multiples of the span counted in
days since 1970-01-01. Every block of a span is made of exactly two blocks of the span below
it (a day of three 8-hour blocks), so any window of whole hours is covered by a handful of
blocks: at most about twenty for 30 days, instead of 720 hours or 30 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analytics.models import Breakdown

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_SPANS = (1, 2, 4, 8)
DAY_SPANS = (24, 48, 96, 192, 384, 768)
SPANS = HOUR_SPANS + DAY_SPANS
# The spans each breakdown is kept at, finest first; the finest is built from records.
# Agents by models, agents by apps and end users are many cells with few requests each: hours
# of them would be about as many rows as records. Agents by model or app start at 8 hours, so
# the open day of an answer is at most 8 hours of records; end users keep days only (their
# rows are small; merging a month of them is cheap per user).
BREAKDOWN_SPANS: dict[str, tuple[int, ...]] = {
    Breakdown.TOTAL: SPANS,
    Breakdown.MODEL: SPANS,
    Breakdown.APP: SPANS,
    Breakdown.AGENT: SPANS,
    Breakdown.AGENT_MODEL: (8, *DAY_SPANS),
    Breakdown.AGENT_APP: (8, *DAY_SPANS),
    Breakdown.USER: (24,),
}
# Agents by model or app are also kept by the hour, but only while their 8-hour block is open
# (it ends after ``closed_until``): the open block of a busy agent may hold hundreds of
# thousands of records, too many to sum on every answer, while the hours of every closed block
# would be about as many rows as records. Once the block closes its hour rows are deleted.
OPEN_HOURS = (Breakdown.AGENT_MODEL, Breakdown.AGENT_APP)
OPEN_HOURS_BLOCK = 8


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def block_start(moment: datetime, span: int) -> datetime:
    """The start of the block of ``span`` hours holding ``moment``."""
    if span < 24:
        day = day_floor(moment)
        return day + HOUR * (((moment.astimezone(UTC) - day) // HOUR) // span * span)
    days = span // 24
    return EPOCH + DAY * ((day_floor(moment) - EPOCH).days // days * days)


def open_hours_from(closed_until: datetime | None) -> datetime:
    """Where the hour rows of the ``OPEN_HOURS`` breakdowns start: the first open 8-hour block."""
    return EPOCH if closed_until is None else block_start(closed_until, OPEN_HOURS_BLOCK)


def _starts_block(moment: datetime, span: int) -> bool:
    """``block_start(moment, span) == moment`` for a UTC ``moment``, without building datetimes."""
    if moment.minute or moment.second or moment.microsecond or moment.hour % min(span, 24):
        return False
    return span <= 24 or (moment - EPOCH).days % (span // 24) == 0


def span_delta(span: int) -> timedelta:
    return HOUR * span


def block_usable(
    start: datetime, end: datetime, span: int, closed_until: datetime | None, hours_from: datetime | None
) -> bool:
    """Whether a reader may take block ``[start, end)`` of ``span`` hours from its rows (see window_cover)."""
    if span == 1:
        return hours_from is None or start >= hours_from
    return closed_until is not None and end <= closed_until


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start, end)``: one rollup block when ``span`` is set, else raw records."""

    start: datetime
    end: datetime
    span: int | None


def window_cover(
    since: datetime,
    until: datetime,
    *,
    spans: Sequence[int],
    closed_until: datetime | None,
    merge_raw: bool = True,
    hours_from: datetime | None = None,
) -> list[Segment]:
    """Cover ``[since, until)`` with the largest usable blocks of ``spans``, the rest raw.

    A 1-hour block is usable from ``hours_from`` on (every hour holding folded records has its
    rows; None: every hour, as for most breakdowns); any other block only once it ends at or
    before ``closed_until`` (coarser blocks are built when their time is over; see
    ``analytics.services``). Raw stretches end at the boundaries of the finest span and are
    merged unless ``merge_raw`` is false (time groups need each stretch within one hour or day).
    """
    usable = sorted(spans, reverse=True)
    finest = min(spans) if spans else None
    segments: list[Segment] = []
    at, until = since.astimezone(UTC), until.astimezone(UTC)
    while at < until:
        chosen = None
        for span in usable:
            end = at + span_delta(span)
            if end <= until and _starts_block(at, span) and block_usable(at, end, span, closed_until, hours_from):
                chosen = Segment(at, end, span)
                break
        if chosen is None:
            end = until if finest is None else min(until, block_start(at, finest) + span_delta(finest))
            if merge_raw and segments and segments[-1].span is None:
                chosen = Segment(segments.pop().start, end, None)
            else:
                chosen = Segment(at, end, None)
        segments.append(chosen)
        at = chosen.end
    return segments
