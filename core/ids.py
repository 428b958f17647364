"""Prefixed opaque ids (SPEC section 1): prefix plus random base62 characters."""

from __future__ import annotations

import os
import string

BASE62 = string.ascii_letters + string.digits
ID_RANDOM_LENGTH = 16
# Random bytes → base62 characters: the 248 byte values below 4 * 62 map evenly onto the 62
# characters (byte % 62); the 8 above are dropped, which keeps every character equally likely.
_BYTE_CHARS = bytes(ord(BASE62[byte % 62]) if byte < 248 else 0 for byte in range(256))
_DROPPED_BYTES = bytes(range(248, 256))


def random_base62(length: int) -> str:
    """``length`` uniformly random base62 characters (secrets, ids).

    Bytes from ``os.urandom`` (the generator behind :mod:`secrets`) mapped by one C-level
    ``bytes.translate``, the few out-of-range bytes rejected: ids are drawn on every proxied
    request, where a ``secrets.choice`` per character (a system call each) or a big-integer
    division per character showed in the request's cost.
    """
    chars = b""
    while len(chars) < length:
        chars += os.urandom(length + 8).translate(_BYTE_CHARS, _DROPPED_BYTES)
    return chars[:length].decode()


def new_id(prefix: str) -> str:
    """A fresh id such as ``ag_3kF9...``; the prefix names the object type (about 95 random bits)."""
    return f"{prefix}_{random_base62(ID_RANDOM_LENGTH)}"


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
