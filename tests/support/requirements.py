"""Tests that need a service the machine may lack: PostgreSQL, a browser.

Locally (``make test`` on SQLite, perhaps without chromium) such a test skips, with the reason.
Where ``CI`` is set (``.ci/run`` exports ``CI=true``) it fails instead: CI provides every
service, so a missing one is a broken CI run, and a skip there would let the run go green
without the test ever having run.

Mark a test, a class or a module with :data:`needs_postgresql`, :data:`needs_browser` or
:data:`needs_redis_cluster`. This
module is a pytest plugin (``tests/conftest.py`` loads it); the rule lives here and nowhere else.

Redis has no marker: every test that needs it fails without it, locally too
(``tests.support.servers.redis_url_for_tests`` finds the machine's own Redis).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.support.browser import browser_missing
from tests.support.redis_cluster import redis_cluster_missing

MARKER = "needs"
# What ``CI`` may be set to and still mean "not CI": an exported but emptied or negated variable.
CI_UNSET = frozenset({"", "0", "false", "no", "off"})


def ci_is_set(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this run is CI's, where every service must be there."""
    return environ.get("CI", "").strip().lower() not in CI_UNSET


def postgresql_missing() -> str | None:
    """Why the test database is no PostgreSQL, or None when it is one."""
    # Settings decide the engine (DATABASE_URL, config/settings/test.py); nothing connects here.
    from django.db import connection

    if connection.vendor == "postgresql":
        return None
    return f"the test database is {connection.display_name}; set DATABASE_URL to a PostgreSQL database (.ci/run does)"


# Service name (the marker's argument) -> (what a message calls it, why it is missing or None).
SERVICES: dict[str, tuple[str, Callable[[], str | None]]] = {
    "postgresql": ("PostgreSQL", postgresql_missing),
    "browser": ("a browser", browser_missing),
    "redis_cluster": ("a Redis Cluster", redis_cluster_missing),
}

needs_postgresql = pytest.mark.needs("postgresql")
needs_browser = pytest.mark.needs("browser")
needs_redis_cluster = pytest.mark.needs("redis_cluster")


@functools.cache
def _missing(service: str) -> str | None:
    """Asked once per run: the answer does not change while the tests run."""
    label, why_missing = SERVICES[service]
    reason = why_missing()
    return None if reason is None else f"needs {label}, but {reason}"


def _needed(item: pytest.Item) -> list[str]:
    """The services ``item``'s markers name. An unknown name stops the run: a typo would
    otherwise mark a test that never skips nor fails."""
    services = [service for marker in item.iter_markers(MARKER) for service in marker.args]
    unknown = sorted(set(services) - SERVICES.keys())
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: unknown service {unknown} for @needs; known: {sorted(SERVICES)}")
    return list(dict.fromkeys(services))


class MissingService(pytest.Item):
    """Stands in for a test whose service is missing in CI: it fails with the reason, before
    any of the test's fixtures run (they would only fail later, with a less telling error)."""

    def __init__(self, *, message: str, origin: pytest.Item, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message
        self.origin = origin

    def runtest(self) -> None:
        pytest.fail(self.message, pytrace=False)

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        return self.origin.reportinfo()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(service): the test needs {' or '.join(SERVICES)}; without it the test skips, "
        "or fails where CI is set (tests/support/requirements.py)",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Last, so that only the tests left after selection (-k, -m, deselection) are looked at."""
    ci = ci_is_set()
    for index, item in enumerate(items):
        reasons = [reason for service in _needed(item) if (reason := _missing(service))]
        if not reasons:
            continue
        reason = "; ".join(reasons)
        if ci:
            message = f"This test {reason}. CI is set: there a missing service fails the test, never skips it."
            items[index] = MissingService.from_parent(item.parent, name=item.name, message=message, origin=item)
        else:
            item.add_marker(pytest.mark.skip(reason=reason))
