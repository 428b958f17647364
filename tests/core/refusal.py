"""Assert on the domain error a service raises, as the SPEC's ``(status, code, reason)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import GatewayError


def refusal(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    """The ``(status, code, reason)`` of the GatewayError that ``call`` must raise."""
    with pytest.raises(GatewayError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.code, caught.value.reason
