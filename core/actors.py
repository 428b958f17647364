"""Who performed a management action, for the event trail."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    type: str  # org_key | user | system
    id: str | None = None


SYSTEM = Actor("system", None)
