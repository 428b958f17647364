"""Prefixed opaque ids (SPEC section 1): prefix plus random base62 characters."""

from __future__ import annotations

import secrets
import string

BASE62 = string.ascii_letters + string.digits
ID_RANDOM_LENGTH = 16


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_id(prefix: str) -> str:
    """A fresh id such as ``ag_3kF9...``; the prefix names the object type."""
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
