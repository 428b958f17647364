"""UTC hour and day buckets, and how a time window splits into rolled-up and raw parts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analytics.models import Granularity

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def day_ceil(moment: datetime) -> datetime:
    floor = day_floor(moment)
    return floor if floor == moment else floor + DAY


def bucket_span(granularity: str) -> timedelta:
    return HOUR if granularity == Granularity.HOUR else DAY


def bucket_of(moment: datetime, granularity: str) -> datetime:
    return hour_floor(moment) if granularity == Granularity.HOUR else day_floor(moment)


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start, end)`` answered from rollups of ``granularity``, or from raw records when it is None."""

    start: datetime
    end: datetime
    granularity: str | None


def window_segments(since: datetime, until: datetime, *, finest: str = Granularity.DAY) -> list[Segment]:
    """Cover ``[since, until)`` with whole days, whole hours and raw edges, coarsest first.

    ``finest`` set to ``hour`` keeps days out (an hourly breakdown cannot be read from days).
    """
    if since >= until:
        return []
    first_hour, last_hour = hour_ceil(since), hour_floor(until)
    if first_hour >= last_hour:
        return [Segment(since, until, None)]
    segments = []
    if since < first_hour:
        segments.append(Segment(since, first_hour, None))
    first_day, last_day = day_ceil(first_hour), day_floor(last_hour)
    if finest == Granularity.DAY and first_day < last_day:
        if first_hour < first_day:
            segments.append(Segment(first_hour, first_day, Granularity.HOUR))
        segments.append(Segment(first_day, last_day, Granularity.DAY))
        if last_day < last_hour:
            segments.append(Segment(last_day, last_hour, Granularity.HOUR))
    else:
        segments.append(Segment(first_hour, last_hour, Granularity.HOUR))
    if last_hour < until:
        segments.append(Segment(last_hour, until, None))
    return segments
