"""Throttling of failed console sign-ins, per user name and client address.

Wraps the admin login view (``config/urls.py``). A failed attempt counts against the pair
(user name, client address) and against the client address alone; once either count is
reached, further attempts are answered ``429`` without checking the password, until the
window that began with the first failure ends. A successful sign-in clears its pair.

Why this shape: counting per pair stops guessing one account's password from one place
without letting anyone lock a colleague out from elsewhere (a per-account lock would);
the looser per-address count stops one place from spraying many accounts.

Counts live in the Django cache: Redis when ``REDIS_URL`` is set, so every gateway process
shares them; process memory otherwise. When the cache cannot be reached the throttle lets
attempts through (logged): a Redis outage must not lock every admin out of the console.

The client address is ``REMOTE_ADDR``. Behind a load balancer, run the server so that it
reflects the real client (uvicorn ``--proxy-headers --forwarded-allow-ips``,
docs/deployment.md); a client-supplied ``X-Forwarded-For`` is never read here.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)
KEY_PREFIX = "aid:login-failures"


def _cache_key(kind: str, *parts: str) -> str:
    # Hashed: user names are free text, and cache backends restrict key characters.
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]
    return f"{KEY_PREFIX}:{kind}:{digest}"


def _limits(request: HttpRequest) -> dict[str, int]:
    """Cache key → the number of failures it allows, for this attempt."""
    username = str(request.POST.get("username", "")).strip().lower()[:254]
    address = request.META.get("REMOTE_ADDR") or "unknown"
    return {
        _cache_key("pair", username, address): settings.LOGIN_FAILURES_PER_USER_AND_ADDRESS,
        _cache_key("address", address): settings.LOGIN_FAILURES_PER_ADDRESS,
    }


def login_failures_exceeded(limits: dict[str, int]) -> bool:
    try:
        counts = cache.get_many(list(limits))
    except Exception:
        logger.warning("login throttle: the cache is unavailable; attempts are not limited")
        return False
    return any(counts.get(key, 0) >= limit for key, limit in limits.items())


def login_failure_count(limits: dict[str, int]) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key in limits:
        try:
            # add() starts the window at the first failure; incr() is atomic on Redis.
            cache.add(key, 0, timeout=window)
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
        except Exception:
            logger.warning("login throttle: the cache is unavailable; a failure was not counted")
            return


def login_failures_forget(limits: dict[str, int]) -> None:
    pair = next(key for key in limits if key.startswith(f"{KEY_PREFIX}:pair:"))
    try:
        cache.delete(pair)
    except Exception:
        logger.warning("login throttle: the cache is unavailable; failures were not cleared")


def login_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The login ``view``, refusing sign-in attempts past the failure limits with ``429``."""

    @functools.wraps(view)
    def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        limits = _limits(request)
        if login_failures_exceeded(limits):
            window = settings.LOGIN_FAILURE_WINDOW_SECONDS
            return HttpResponse(
                f"Too many failed sign-in attempts. Try again in {max(1, window // 60)} minutes.",
                status=429,
                content_type="text/plain; charset=utf-8",
                headers={"Retry-After": str(window)},
            )
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            # The login form came back with its errors: wrong password, unknown or inactive user.
            login_failure_count(limits)
        elif 300 <= response.status_code < 400:  # signed in: on to the console
            login_failures_forget(limits)
        return response

    return throttled
