"""Which engine runs a blocked pattern (SPEC 3.5): RE2 where it means exactly what the pattern
means to `regex`, `regex` (under the request's time budget) everywhere else. A pattern run by
RE2 must block exactly the texts `regex` would: otherwise an engine difference is a bypass."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.guardrail_patterns import blocked_pattern_compile

LINEAR = [
    r"(a|aa)+b",
    r"(?i)project\s+zeus",
    r"\d{3}-\d{2}",
    r"[\w.]+@x",
    r"[^\S\n]+k",
    r"(?i:x)y",
    r"[]a]b",
    r"[^]a]x",
    r"(?P<n>a)b",
    r"\x41\.",
    r"\W\w\W",
    r"[\D]{2}",
    r"(?i)ß[\w]",
    r"(?s)a.b",
    r"(?m)^ab",
    r"\Aab",
    r"a{2}b{1,}c{0,2}",
]

# Each means something else to RE2 (or does not compile there): they must stay with `regex`.
BACKTRACKING = [
    r"a$",  # `regex`: also before a final newline
    r"\bfoo",  # RE2: ASCII word boundary
    r"a{,3}",  # RE2: the literal text "{,3}"
    r"(?:foo){e<=1}",  # `regex`: fuzzy matching
    r"x(?i)y",  # `regex` V0: the flag applies to the whole pattern
    r"[[:alpha:]]",  # `regex`: Unicode letters
    r"\p{L}",
    r"(a)\1",
    r"foo(?=bar)",
    r"(?<!\d)x",
    r"a\Z",
]

# Characters where the engines' defaults differ: Unicode spaces, digits and letters, case
# folding oddities (long s, Kelvin sign), a newline, an astral character, brackets and the @ of e-mails.
ALPHABET = "aAbBcxyzk \u00a0\u2003\t\n.@]ß\u0661é\U0001f600_-\u017fK\u212a0kfoprjectzeus"


@pytest.mark.parametrize("pattern", LINEAR)
def test_it_runs_patterns_with_an_exact_re2_form_in_linear_time(pattern):
    compiled = blocked_pattern_compile("rule", pattern)
    assert compiled.linear is not None
    assert compiled.backtracking is None


@pytest.mark.parametrize("pattern", BACKTRACKING)
def test_it_leaves_patterns_re2_would_read_differently_to_regex(pattern):
    compiled = blocked_pattern_compile("rule", pattern)
    assert compiled.linear is None
    assert compiled.backtracking is not None


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=12))
def test_it_blocks_exactly_what_regex_blocks_for_every_pattern_re2_runs(text):
    for pattern in LINEAR:
        linear = blocked_pattern_compile("rule", pattern).linear
        assert (linear.search(text.encode()) is not None) == (regex.search(pattern, text) is not None), pattern
