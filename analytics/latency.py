"""Latency histograms at whole-millisecond resolution: exact percentiles that merge fast.

A usage answer gives nearest-rank percentiles over its whole window, so it adds up the
histograms of every rollup row and record it reads; a percentile of percentiles is never
taken. Rows come in two encodings:

- ``counts``: JSON ``{"<ms>": count}``, written by SQL when a row is built from records
  (``json_object_agg`` / ``json_group_object``), kept for histograms of few values;
- ``pages``: binary, written by Python when a row is built from finer rows, and for a row
  built from records of ``SMALL`` or more values (:func:`counts_as_pages`). The millisecond
  axis is cut into pages of 1,024 ms; a page holding many distinct values is stored dense
  (1,024 little-endian uint32 counts), the others as ``(ms, count)`` pairs; zlib on top.

Why dense pages: read with one ``int.from_bytes``, a page is a big integer whose fixed-width
fields are the counts, and adding two such integers adds all 1,024 counts at once. No field
carries into the next as long as no sum reaches the field's limit, which is guaranteed by
choosing the width from the histogram's total before decoding: 32 bits below 2**32 requests,
64 bits above. Merging the rows of a 30-day window then costs a few additions per page
instead of one Python step per distinct millisecond, which keeps ``GET /v1/usage`` fast.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from fractions import Fraction
from itertools import accumulate
from operator import itemgetter

import orjson

PAGE_BITS = 10
PAGE = 1 << PAGE_BITS
# A page with fewer distinct values is cheaper to keep, and to read, as pairs.
DENSE_MIN = 32
# Fewer distinct values than this: a row built from rows keeps them as JSON, like SQL does.
SMALL = 256
FORMAT = 1
HEADER = struct.Struct("<BBII")  # format, bytes per dense count, dense pages, sparse pairs
TYPECODE = {4: "I", 8: "Q"}
NATIVE_LITTLE = sys.byteorder == "little"
MEDIAN = Fraction(1, 2)
P95 = Fraction(19, 20)

assert array("I").itemsize == 4, "uint32 counts"
assert array("Q").itemsize == 8, "uint64 page numbers and pairs"


def _numbers(data: bytes | memoryview, width: int) -> array:
    values = array(TYPECODE[width])
    values.frombytes(data)
    if not NATIVE_LITTLE:
        values.byteswap()
    return values


def _little(values: array) -> bytes:
    if NATIVE_LITTLE:
        return values.tobytes()
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def _width_for(total: int) -> int:
    return 4 if total < 1 << 32 else 8


def quantile(q: float | Fraction) -> Fraction:
    """``0.95`` as the exact fraction ``19/20``: ranks are computed in integers."""
    return q if isinstance(q, Fraction) else Fraction(str(q))


def nearest_rank(total: int, q: Fraction) -> int:
    """``max(1, ceil(q * total))`` without floating point."""
    return max(1, -(-total * q.numerator // q.denominator))


class LatencyHistogram:
    """Counts of requests per whole millisecond of latency; stored rows are decoded when needed.

    A histogram that is exactly one stored row answers that row's stored p50 and p95 without
    decoding it (each hour of ``group_by=hour`` is one row).
    """

    __slots__ = ("_bound", "_known", "_pages", "_sparse", "_stored", "_width")

    def __init__(self) -> None:
        self._sparse: dict[int, int] = {}
        self._pages: dict[int, int] = {}  # page -> big integer of PAGE fields of _width bytes
        self._width = 4
        self._stored: list[tuple[str | None, bytes | None, int]] = []  # counts, pages, sign
        self._bound = 0  # requests added so far: bounds every count, so it picks the field width
        self._known: dict[Fraction, int | None] | None = None

    def is_empty(self) -> bool:
        return self._bound == 0

    def add(self, ms: int, count: int = 1) -> None:
        if ms < 0:
            raise ValueError("a latency is never negative")
        self._known = None
        self._bound += count
        self._sparse[ms] = self._sparse.get(ms, 0) + count

    def add_counts(self, counts: str, *, requests: int) -> None:
        """Add a ``{"<ms>": count}`` JSON text holding ``requests`` values."""
        self._known = None
        self._bound += requests
        self._stored.append((counts, None, 1))

    def subtract_counts(self, counts: str) -> None:
        """Take away a ``{"<ms>": count}`` JSON text of values this histogram holds."""
        self._known = None
        self._stored.append((counts, None, -1))

    def add_stored(
        self, *, requests: int, counts: str | None, pages: bytes | memoryview | None, p50: int | None, p95: int | None
    ) -> None:
        """Add a rollup row's histogram (either encoding), with the percentiles stored beside it."""
        alone = self.is_empty()
        self._bound += requests
        self._stored.append((counts, bytes(pages) if pages is not None else None, 1))
        self._known = {MEDIAN: p50, P95: p95} if alone and p50 is not None else None

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other`` (decoded first: it is read once, however many histograms it joins)."""
        if other.is_empty():
            return
        other._decode()
        alone = self.is_empty()
        self._bound += other._bound
        if not self._sparse:
            self._sparse.update(other._sparse)
        else:
            for ms, count in other._sparse.items():
                self._sparse[ms] = self._sparse.get(ms, 0) + count
        if other._pages:
            width = max(self._width, other._width, _width_for(self._bound))
            self._widen(width)
            pages = other._pages if other._width == width else _widened(other._pages, other._width, width)
            for page, value in pages.items():
                self._pages[page] = self._pages.get(page, 0) + value
        self._known = dict(other._known) if alone and other._known is not None else None

    def _widen(self, width: int) -> None:
        if width != self._width:
            self._pages = _widened(self._pages, self._width, width)
            self._width = width

    def _decode(self) -> None:
        if not self._stored:
            return
        self._widen(max(self._width, _width_for(self._bound)))
        width, sparse, pages = self._width, self._sparse, self._pages
        for counts, blob, sign in self._stored:
            if counts:
                parsed = orjson.loads(counts)
                if sign > 0 and len(parsed) >= SMALL:
                    # An hour's row of a busy tenant: into dense pages, which later merges add
                    # as whole pages rather than value by value.
                    self._pages_add(parsed)
                elif not sparse and sign > 0:
                    sparse.update(zip(map(int, parsed), parsed.values(), strict=True))
                else:
                    for ms, count in parsed.items():
                        ms = int(ms)
                        sparse[ms] = sparse.get(ms, 0) + sign * count
            if not blob:
                continue
            raw = memoryview(zlib.decompress(blob))
            fmt, stored_width, dense, pairs = HEADER.unpack_from(raw)
            if fmt != FORMAT:
                raise ValueError(f"unknown latency histogram format {fmt}")
            offset = HEADER.size
            numbers = _numbers(raw[offset : offset + dense * 8], 8)
            offset += dense * 8
            page_bytes = PAGE * stored_width
            for page in numbers:
                chunk = raw[offset : offset + page_bytes]
                if stored_width != width:
                    chunk = _little(array(TYPECODE[width], _numbers(chunk, stored_width)))
                pages[page] = pages.get(page, 0) + int.from_bytes(chunk, "little")
                offset += page_bytes
            values = _numbers(raw[offset : offset + pairs * 8], 8)
            for ms, count in zip(values, _numbers(raw[offset + pairs * 8 : offset + pairs * 16], 8), strict=True):
                sparse[ms] = sparse.get(ms, 0) + count
        self._stored = []

    def _pages_add(self, counts: dict[str, int]) -> None:
        typecode, size = TYPECODE[self._width], PAGE * self._width
        arrays: dict[int, array] = {}
        for key, count in counts.items():
            ms = int(key)
            page = ms >> PAGE_BITS
            if (values := arrays.get(page)) is None:
                values = arrays[page] = array(typecode, bytes(size))
            values[ms & (PAGE - 1)] += count
        for page, values in arrays.items():
            self._pages[page] = self._pages.get(page, 0) + int.from_bytes(_little(values), "little")

    def _by_page(self) -> tuple[dict[int, array], dict[int, list[tuple[int, int]]]]:
        self._decode()
        self._widen(max(self._width, _width_for(self._bound)))
        size = PAGE * self._width
        dense = {page: _numbers(value.to_bytes(size, "little"), self._width) for page, value in self._pages.items()}
        # Pairs by page from the sorted values, a slice per page: no Python step per value.
        values, count_of = sorted(self._sparse), self._sparse.__getitem__
        pairs: dict[int, list[tuple[int, int]]] = {}
        at = 0
        while at < len(values):
            page = values[at] >> PAGE_BITS
            end = bisect_left(values, (page + 1) << PAGE_BITS, at)
            pairs[page] = list(zip(values[at:end], map(count_of, values[at:end]), strict=True))
            at = end
        return dense, pairs

    def percentile(self, q: float | Fraction) -> int | None:
        """Nearest rank: the smallest value with at least ``ceil(q * n)`` values at or below it."""
        return self.percentiles([q])[0]

    def percentiles(self, qs: Iterable[float | Fraction]) -> list[int | None]:
        """:meth:`percentile` of each of ``qs``, decoding the histogram at most once."""
        wanted = [quantile(q) for q in qs]
        if self._known is not None and all(q in self._known for q in wanted):
            return [self._known[q] for q in wanted]
        return self._percentiles_of(wanted, *self._by_page())

    def _percentiles_of(
        self, wanted: list[Fraction], dense: dict[int, array], pairs: dict[int, list[tuple[int, int]]]
    ) -> list[int | None]:
        in_page = {page: sum(counts) for page, counts in dense.items()}
        for page, entries in pairs.items():
            in_page[page] = in_page.get(page, 0) + sum(map(itemgetter(1), entries))
        total = sum(in_page.values())
        if total == 0:
            return [None for _ in wanted]
        order = sorted(in_page)
        return [self._ranked(nearest_rank(total, q), order, in_page, dense, pairs) for q in wanted]

    def _ranked(
        self,
        rank: int,
        order: list[int],
        in_page: dict[int, int],
        dense: dict[int, array],
        pairs: dict[int, list[tuple[int, int]]],
    ) -> int:
        seen = 0
        for page in order:
            if seen + in_page[page] < rank:
                seen += in_page[page]
                continue
            counts = list(dense[page]) if page in dense else [0] * PAGE
            for ms, count in pairs.get(page, ()):
                counts[ms & (PAGE - 1)] += count
            return (page << PAGE_BITS) + bisect_left(list(accumulate(counts)), rank - seen)
        raise AssertionError("unreachable: the ranks add up to the total")

    def counts(self) -> dict[int, int]:
        """Every millisecond with its count, in order (tests, small histograms)."""
        dense, pairs = self._by_page()
        merged: dict[int, int] = {}
        for page, counts in dense.items():
            for offset, count in enumerate(counts):
                if count:
                    merged[(page << PAGE_BITS) + offset] = count
        for entries in pairs.values():
            for ms, count in entries:
                merged[ms] = merged.get(ms, 0) + count
        return {ms: count for ms, count in sorted(merged.items()) if count}

    def encode(self, level: int = 6) -> tuple[str, bytes | None, int | None, int | None]:
        """This histogram as a rollup row stores it: ``(counts, pages, p50, p95)``; ``level``
        is zlib's.

        A histogram of few distinct values is kept as ``counts`` JSON (cheaper to write and to
        read at that size), any other in the ``pages`` encoding (module docstring).
        """
        self._decode()
        if not self._pages and len(self._sparse) < SMALL:
            ordered = sorted(self._sparse.items())
            below = list(accumulate(count for _, count in ordered))
            p50, p95 = (
                ordered[bisect_left(below, nearest_rank(below[-1], q))][0] if below else None for q in (MEDIAN, P95)
            )
            return orjson.dumps({str(ms): count for ms, count in ordered}).decode(), None, p50, p95
        dense, pairs = self._by_page()
        p50, p95 = self._percentiles_of([MEDIAN, P95], dense, pairs)
        sparse_values, sparse_counts = array("Q"), array("Q")
        for page, entries in sorted(pairs.items()):
            if page in dense or len(entries) >= DENSE_MIN:
                counts = dense.setdefault(page, array(TYPECODE[self._width], bytes(PAGE * self._width)))
                for ms, count in entries:
                    counts[ms & (PAGE - 1)] += count
                continue
            for ms, count in sorted(entries):
                sparse_values.append(ms)
                sparse_counts.append(count)
        numbers = array("Q", sorted(dense))
        header = HEADER.pack(FORMAT, self._width, len(numbers), len(sparse_values))
        raw = b"".join(
            [header, _little(numbers), *(_little(dense[page]) for page in numbers), _little(sparse_values),
             _little(sparse_counts)]
        )  # fmt: skip
        return "", zlib.compress(raw, level), p50, p95


def counts_as_pages(counts: str, requests: int) -> bytes | None:
    """The ``pages`` encoding of a ``{"<ms>": count}`` JSON text of at least ``SMALL`` distinct
    values, else None (a small histogram stays JSON).

    SQL writes the rows it builds from records as JSON; an hour of a busy cell holds thousands
    of distinct milliseconds, and every read of it turned each one into page fields with a
    Python step, so an answer over the last hours cost more the denser the records were. Read
    as pages it costs a few steps per page, however dense.
    """
    histogram = LatencyHistogram()
    histogram.add_counts(counts, requests=requests)
    # zlib's fastest level: an hour's rows are encoded on every rollup run that touches the
    # hour; level 6 made the blobs 40% smaller (both far smaller than the JSON) for half
    # again the time.
    return histogram.encode(level=1)[1]


def _widened(pages: dict[int, int], width: int, wider: int) -> dict[int, int]:
    size = PAGE * width
    return {
        page: int.from_bytes(_little(array(TYPECODE[wider], _numbers(value.to_bytes(size, "little"), width))), "little")
        for page, value in pages.items()
    }
