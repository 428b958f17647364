"""Streaming clients of the benchmark, each run in its own process (uvloop + aiohttp).

``ttfb``: time to first byte of streamed chat completions, sequentially or at a fixed
concurrency. ``hold``: open many slow streams at once and check that none is starved,
writing its progress to a status file so the orchestrator can sample the worker's memory.

Both print one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _session(connections: int, headers: dict[str, str]) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, force_close=False)
    return aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=120), auto_decompress=False
    )


async def ttfb_measure(url: str, body: bytes, headers: dict[str, str], requests: int, concurrency: int) -> dict:
    first_bytes: list[float] = []
    totals: list[float] = []
    errors = 0
    remaining = requests

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            async with session.post(url, data=body) as response:
                first = await response.content.readany()
                first_at = time.perf_counter()
                while await response.content.readany():
                    pass
                if response.status != 200 or not first:
                    errors += 1
                    return
        except (aiohttp.ClientError, TimeoutError):
            errors += 1
            return
        first_bytes.append((first_at - started) * 1000)
        totals.append((time.perf_counter() - started) * 1000)

    async def lane(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one(session)

    async with _session(concurrency, headers) as session:
        for _ in range(min(20, requests)):  # warm the keep-alive connections and caches
            await one(session)
        first_bytes.clear()
        totals.clear()
        errors = 0
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(lane(session) for _ in range(concurrency))), timeout=300)
        elapsed = time.perf_counter() - started
    return {
        "requests": requests,
        "concurrency": concurrency,
        "errors": errors,
        "throughput_rps": round(len(totals) / elapsed, 1) if elapsed else 0.0,
        "ttfb_p50_ms": percentile(first_bytes, 50),
        "ttfb_p99_ms": percentile(first_bytes, 99),
        "total_p50_ms": percentile(totals, 50),
        "total_p99_ms": percentile(totals, 99),
    }


@dataclass
class StreamTrace:
    opened_at: float = 0.0
    first_event_at: float | None = None
    last_event_at: float | None = None
    events: int = 0
    max_gap: float = 0.0
    done: bool = False
    error: str | None = None
    gaps: list[float] = field(default_factory=list)


async def hold_streams(
    url: str, body: bytes, headers: dict[str, str], streams: int, ramp_seconds: float, status_file: Path,
    starve_seconds: float, expected_events: int,
) -> dict:  # fmt: skip
    traces = [StreamTrace() for _ in range(streams)]
    open_now = 0

    async def one(trace: StreamTrace, session: aiohttp.ClientSession) -> None:
        nonlocal open_now
        trace.opened_at = time.perf_counter()
        try:
            async with session.post(url, data=body) as response:
                if response.status != 200:
                    trace.error = f"status {response.status}"
                    return
                open_now += 1
                try:
                    async for line in response.content:
                        if not line.startswith(b"data: "):
                            continue
                        now = time.perf_counter()
                        if line.startswith(b"data: [DONE]"):
                            trace.done = True
                            break
                        if trace.last_event_at is not None:
                            gap = now - trace.last_event_at
                            trace.max_gap = max(trace.max_gap, gap)
                            trace.gaps.append(gap)
                        else:
                            trace.first_event_at = now
                        trace.last_event_at = now
                        trace.events += 1
                finally:
                    open_now -= 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            trace.error = type(exc).__name__

    async def report_progress(stop: asyncio.Event) -> None:
        while not stop.is_set():
            status_file.write_text(json.dumps({"open": open_now, "at": time.time()}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.25)

    stop = asyncio.Event()
    reporter = asyncio.create_task(report_progress(stop))
    async with _session(streams + 10, headers) as session:
        tasks = []
        for index, trace in enumerate(traces):
            tasks.append(asyncio.create_task(one(trace, session)))
            if ramp_seconds and index % 50 == 49:
                await asyncio.sleep(ramp_seconds * 50 / streams)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=180)
    stop.set()
    await reporter
    gaps = [g for t in traces for g in t.gaps]
    first_waits = [t.first_event_at - t.opened_at for t in traces if t.first_event_at is not None]
    starved = sum(1 for t in traces if not t.done or t.max_gap > starve_seconds or t.events < expected_events)
    return {
        "streams": streams,
        "starved": starved,
        "starve_seconds": starve_seconds,
        "expected_events": expected_events,
        "completed": sum(t.done for t in traces),
        "errors": sum(t.error is not None for t in traces),
        "error_kinds": sorted({t.error for t in traces if t.error}),
        "events_min": min((t.events for t in traces), default=0),
        "events_median": statistics.median([t.events for t in traces]) if traces else 0,
        "gap_p50_s": percentile(gaps, 50),
        "gap_p99_s": percentile(gaps, 99),
        "gap_max_s": max(gaps, default=None),
        "first_event_p99_s": percentile(first_waits, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["ttfb", "hold"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True, type=Path)
    parser.add_argument("--headers-file", required=True, type=Path, help="JSON object of request headers")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--ramp-seconds", type=float, default=2.0)
    parser.add_argument("--status-file", type=Path)
    parser.add_argument("--starve-seconds", type=float, default=1.5, help="a longer silence counts as starved")
    parser.add_argument("--expected-events", type=int, default=0, help="events a complete stream carries")
    args = parser.parse_args()
    body = args.body_file.read_bytes()
    headers = json.loads(args.headers_file.read_text())
    if args.mode == "ttfb":
        result = uvloop.run(ttfb_measure(args.url, body, headers, args.requests, args.concurrency))
    else:
        status = args.status_file or Path("/dev/null")
        result = uvloop.run(
            hold_streams(
                args.url,
                body,
                headers,
                args.streams,
                args.ramp_seconds,
                status,
                args.starve_seconds,
                args.expected_events,
            )
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
