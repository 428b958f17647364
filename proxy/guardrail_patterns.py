"""Blocked patterns compiled for the proxy: RE2 (linear time) where it means exactly what the
pattern means to the ``regex`` module, the ``regex`` module with a time bound otherwise.

A pattern is validated and documented as a ``regex`` pattern (``apps/guardrail_rules.py``), so
RE2 may only run it when both engines agree on every text: otherwise a client could slip
content past a pattern, or be refused for nothing, because of an engine difference. The
translation below accepts a conservative subset and sends everything else to ``regex``:

* ``\\d \\D \\s \\S \\w \\W`` are Unicode classes in ``regex`` and ASCII in RE2, so they are
  rewritten as the explicit code-point ranges ``regex`` itself matches;
* ``\\b \\B \\Z \\z \\G``, ``\\p{…}``, octal, named and numbered escapes, ``$`` (which in
  ``regex`` also matches before a final newline), POSIX classes (Unicode in ``regex``),
  ``{`` not starting a ``{m}``/``{m,n}`` repetition (``{,n}`` and fuzzy matching mean
  something else to each engine) and global inline flags after the start (``regex`` applies
  them to the whole pattern) stay with ``regex``;
* backreferences, lookarounds, atomic groups and possessive quantifiers do not compile in
  RE2 at all and stay with ``regex``.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from typing import Any

import re2
import regex

# Escapes with the same meaning to both engines: control characters, the start of the text,
# and \xhh (``regex`` refuses \x{…}, so only the two-digit form reaches here).
_SAME_LETTER_ESCAPES = frozenset("ntrfvaAx")
_UNICODE_CLASS_ESCAPES = frozenset("dDsSwW")
_GLOBAL_FLAG_LETTERS = frozenset("aiLmsuxVfbewrp0123456789-")
_MAX_CODE_POINT = 0x10FFFF
_REPETITION = regex.compile(r"\{\d+(?:,\d*)?\}")
_INLINE_FLAGS = regex.compile(r"\(\?([^:)]*)\)")

RE2_OPTIONS = re2.Options()
# RE2 logs a refused pattern (its text) through absl on stderr; a refusal here only means
# "run it with regex", so the log would be noise on every config load.
RE2_OPTIONS.log_errors = False


def _code_point(index: int) -> int:
    """The code point at ``index`` of a string of every code point but the surrogates."""
    return index if index < 0xD800 else index + 0x800


@functools.cache
def _class_ranges() -> dict[str, str]:
    """For each of ``\\d \\D \\s \\S \\w \\W``: the code points ``regex`` matches with it, as RE2
    range syntax without brackets. Computed from ``regex`` itself, so the engines cannot
    disagree, once per process when the configuration loader meets the first pattern that
    needs it (a noticeable cost, paid once: docs/performance-log.md, 2026-12-06 21:57-22:07).
    Surrogates are left out: they cannot occur in UTF-8 text."""
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, _MAX_CODE_POINT + 1)))
    classes = {}
    for escape in _UNICODE_CLASS_ESCAPES:
        ranges = []
        for run in regex.finditer(f"(?:\\{escape})+", every):
            first, last = _code_point(run.start()), _code_point(run.end() - 1)
            if first < 0xD800 < last:  # a run across the surrogate gap is two ranges
                ranges += [(first, 0xD7FF), (0xE000, last)]
            else:
                ranges.append((first, last))
        classes[escape] = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)
    return classes


def re2_translate(pattern: str) -> str | None:
    """The RE2 spelling of ``pattern`` with the same meaning, or None where this module cannot
    promise that (the caller then runs it with ``regex``)."""
    out: list[str] = []
    in_class = False
    class_start = -1
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\":
            if index + 1 >= length:
                return None
            escaped = pattern[index + 1]
            if escaped in _UNICODE_CLASS_ESCAPES:
                ranges = _class_ranges()[escaped]
                out.append(ranges if in_class else f"[{ranges}]")
            elif escaped in string.ascii_letters or escaped in string.digits:
                if escaped not in _SAME_LETTER_ESCAPES:
                    return None
                out.append(pattern[index : index + 2])
            elif not escaped.isascii():
                return None
            else:
                out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]" and index > class_start:
                in_class = False
            elif char == "[" and pattern.startswith("[:", index):
                return None
            out.append(char)
            index += 1
            continue
        if char == "[":
            in_class = True
            # A ']' right after '[' or '[^' is a literal member in both engines.
            class_start = index + (3 if pattern.startswith("[^", index) else 2)
            if pattern.startswith("[^]", index) or pattern.startswith("[]", index):
                out.append(pattern[index:class_start])
                index = class_start
                continue
        elif char == "$" or (char == "{" and _REPETITION.match(pattern, index) is None):
            return None
        elif char == "(" and index > 0:
            flags = _INLINE_FLAGS.match(pattern, index)
            if flags is not None and set(flags.group(1)) <= _GLOBAL_FLAG_LETTERS:
                return None
        out.append(char)
        index += 1
    return None if in_class else "".join(out)


@dataclass(frozen=True, slots=True)
class BlockedPattern:
    """One compiled blocked pattern. ``linear`` (RE2, over UTF-8 bytes) when the pattern has an
    exact RE2 form; otherwise ``backtracking`` (``regex``), which must be given a timeout."""

    name: str
    linear: Any | None
    backtracking: regex.Pattern | None


def blocked_pattern_compile(name: str, pattern: str) -> BlockedPattern:
    """Compile a validated pattern with the fastest engine that keeps its meaning."""
    translated = re2_translate(pattern)
    if translated is not None:
        try:
            return BlockedPattern(name, re2.compile(translated.encode(), RE2_OPTIONS), None)
        except re2.error:
            pass  # backreferences, lookarounds, too large for RE2's memory bound, …
    return BlockedPattern(name, None, regex.compile(pattern))
