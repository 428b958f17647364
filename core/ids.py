"""Prefixed opaque ids (SPEC section 1): prefix plus random base62 characters."""

from __future__ import annotations

import os
import string

BASE62 = string.ascii_letters + string.digits
ID_RANDOM_LENGTH = 16
_BASE62_PAIRS = [high + low for high in BASE62 for low in BASE62]


def random_base62(length: int) -> str:
    """``length`` uniformly random base62 characters (secrets, ids of answers).

    One ``os.urandom`` draw (the generator behind :mod:`secrets`) of 64 bits more than the
    characters need, written in base62: their distance from uniform is below 2**-64. A
    ``secrets.choice`` per character cost a system call each, on every proxied request of
    the dialects that name their answers.
    """
    value = int.from_bytes(os.urandom((length * 6 + 64 + 7) // 8))
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


def new_id(prefix: str) -> str:
    """A fresh id such as ``ag_3kF9...``; the prefix names the object type.

    One ``urandom`` draw of 128 bits, written in base62, rather than a ``secrets.choice``
    per character: ids are made on every proxied request. (Secrets use ``random_base62``.)
    """
    value = int.from_bytes(os.urandom(16))
    chars = []
    for _ in range(ID_RANDOM_LENGTH // 2):
        value, pair = divmod(value, 3844)  # two base62 digits a step: 62 * 62
        chars.append(_BASE62_PAIRS[pair])
    return f"{prefix}_{''.join(chars)}"


class IdFactory:
    """A picklable default for ``CharField(default=...)`` that migrations can serialise."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def deconstruct(self) -> tuple[str, tuple[str], dict]:
        return ("core.ids.IdFactory", (self.prefix,), {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdFactory) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)
