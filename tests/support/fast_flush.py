"""Emptying the test database after a transactional test, on PostgreSQL, at the cost of the rows
the test wrote rather than of the schema.

Django ends every ``transactional_db`` test with ``manage.py flush``: one ``TRUNCATE`` of every
table, then the ``post_migrate`` signal to write the content types and permissions back. A
``TRUNCATE`` gives each table, index and partition a new file and syncs them at commit; with
~35 tables and the monthly partitions of the request log that took 0.4-1.3 s a test, of
which the ~870 transactional tests spent most of their time (more than their own bodies).

This does the same thing in one transaction: ``DELETE`` from each table that holds a row (one
query finds them), but for those Django's own flush leaves rows in. The append-only request
log and audit checkpoints refuse ``DELETE`` in a trigger: a superuser (CI's ``postgres``)
switches triggers off for the transaction, as a replica does; any other role truncates those
two when they hold rows (0.1 s). The tables ``post_migrate`` writes back (the content types
and permissions), known by running Django's flush once per test database, are left as they
are; when a test changed them (their digest differs from the one after that flush) Django's
own flush runs again instead. So each test still starts on the database a flush leaves.

Anything but a plain transactional test on PostgreSQL (``available_apps``, serialized rollback,
SQLite) keeps Django's flush.
"""

from __future__ import annotations

from django.core.management import call_command
from django.db import connections, transaction
from django.test import TransactionTestCase

_original_fixture_teardown = TransactionTestCase._fixture_teardown
# Per database alias: the tables Django's flush leaves rows in (those post_migrate writes: the
# content types and permissions), and a digest of those rows.
_regenerated: dict[str, tuple[list[str], str]] = {}
# Per database alias: the tables with a trigger of their own (DELETE may be refused there),
# or None where the role may switch triggers off (a superuser, as in CI): nothing is guarded.
_guarded_tables: dict[str, set[str] | None] = {}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _written(cursor, tables: list[str]) -> list[str]:
    """Those of ``tables`` that hold a row, in one query."""
    if not tables:
        return []
    probe = " UNION ALL ".join(
        f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {_quote(t)})"  # noqa: S608
        for i, t in enumerate(tables)
    )
    cursor.execute(probe)
    return [tables[row[0]] for row in cursor.fetchall()]


def _digest(cursor, tables: list[str]) -> str:
    parts = []
    for table in tables:
        cursor.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {_quote(table)} t")  # noqa: S608
        parts.append(cursor.fetchone()[0])
    return ",".join(parts)


def _model_tables(alias: str) -> list[str]:
    return connections[alias].introspection.django_table_names(only_existing=True, include_views=False)


def _guarded(cursor, alias: str) -> set[str] | None:
    if alias not in _guarded_tables:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            _guarded_tables[alias] = None
            return None
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace"
        )
        _guarded_tables[alias] = {row[0] for row in cursor.fetchall()}
    return _guarded_tables[alias]


def database_empty(alias: str) -> bool:
    """Empty every table of the database's models but those Django's flush leaves rows in;
    False (nothing done) when those differ from what the flush left, so a full flush is due."""
    regenerated, digest = _regenerated[alias]
    tables = [t for t in _model_tables(alias) if t not in regenerated]
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        if _digest(cursor, regenerated) != digest:
            return False
        written = _written(cursor, tables)
        guarded = _guarded(cursor, alias)
        if guarded is None:
            # Triggers off for this transaction (foreign keys' too: every table that holds a
            # row is emptied, so none is left pointing anywhere), as a replica applies rows.
            cursor.execute("SET LOCAL session_replication_role = replica")
            guarded = set()
        else:
            # Django's foreign keys are deferred: rows may go in any order within the transaction.
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in written:
            if table not in guarded:
                cursor.execute(f"DELETE FROM {_quote(table)}")  # noqa: S608
        if truncated := [_quote(t) for t in written if t in guarded]:
            # A partitioned table's partitions go with it.
            cursor.execute(f"TRUNCATE {', '.join(truncated)}")
    return True


def _fixture_teardown(self: TransactionTestCase) -> None:
    aliases = self._databases_names(include_mirrors=False)
    plain = self.available_apps is None and not self.serialized_rollback
    if not plain or any(connections[alias].vendor != "postgresql" for alias in aliases):
        _original_fixture_teardown(self)
        return
    for alias in aliases:
        if alias not in _regenerated or not database_empty(alias):
            database_flush(alias)


def database_flush(alias: str) -> None:
    """Django's flush, as TransactionTestCase runs it for a plain test; what it leaves is
    what :func:`database_empty` keeps from then on."""
    call_command(
        "flush",
        verbosity=0,
        interactive=False,
        database=alias,
        reset_sequences=False,
        allow_cascade=False,
        inhibit_post_migrate=False,
    )
    with connections[alias].cursor() as cursor:
        regenerated = _written(cursor, _model_tables(alias))
        _regenerated[alias] = (regenerated, _digest(cursor, regenerated))


def pytest_configure(config) -> None:
    TransactionTestCase._fixture_teardown = _fixture_teardown
