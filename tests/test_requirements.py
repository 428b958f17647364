"""A test that needs a missing service skips locally and fails where CI is set
(tests/support/requirements.py): a skip in CI would let the run go green without the test.

Each case runs pytest in a fresh interpreter, since the test database's engine is read from
the environment once, when Django's settings load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.requirements import ci_is_set

pytest_plugins = ["pytester"]

BASE_DIR = Path(__file__).resolve().parent.parent
MARKED = """
from tests.support.requirements import needs_postgresql


@needs_postgresql
def test_on_postgresql():
    pass
"""
# Only the engine matters: nothing connects to either database.
SQLITE = "sqlite:///{tmp}/never-created.sqlite3"
POSTGRESQL = "postgres://postgres@127.0.0.1:1/never_connected"


@pytest.fixture
def run_marked(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[..., pytest.RunResult]:
    """Runs a test marked ``needs_postgresql`` under the given ``CI`` and ``DATABASE_URL``."""
    pytester.makepyfile(test_marked=MARKED)
    monkeypatch.setenv("PYTHONPATH", str(BASE_DIR))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings.test")

    def run(*, ci: str | None, database_url: str) -> pytest.RunResult:
        if ci is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", ci)
        monkeypatch.setenv("DATABASE_URL", database_url.format(tmp=pytester.path))
        return pytester.runpytest_subprocess("-p", "tests.support.requirements", "-p", "no:cacheprovider", "-rsf")

    return run


def test_without_postgresql_it_fails_where_ci_is_set(run_marked):
    result = run_marked(ci="true", database_url=SQLITE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_on_postgresql - *needs PostgreSQL, but the test database is SQLite*"])
    result.stdout.fnmatch_lines(["*CI is set: there a missing service fails the test, never skips it.*"])


def test_without_postgresql_it_skips_locally(run_marked):
    result = run_marked(ci=None, database_url=SQLITE)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * needs PostgreSQL, but the test database is SQLite*"])


def test_on_postgresql_it_runs_where_ci_is_set(run_marked):
    run_marked(ci="true", database_url=POSTGRESQL).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("0", False), ("false", False), ("No", False), (" off ", False),
     ("true", True), ("1", True), ("yes", True), ("TRUE", True)],
)  # fmt: skip
def test_what_ci_counts_as_set(value, expected):
    assert ci_is_set({} if value is None else {"CI": value}) is expected
