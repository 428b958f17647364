"""Read tables with raw SQL, below the ORM, to see exactly what is stored at rest."""

from __future__ import annotations

from typing import Any

from django.db import connection


def raw_rows(table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` as ``SELECT *`` returns it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names are ours
        return list(cursor.fetchall())


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


def raw_text(table: str) -> str:
    """All values of all rows of ``table`` as one string, for "is this secret anywhere" checks."""
    return "\n".join(_as_text(value) for row in raw_rows(table) for value in row)


def raw_text_of_database() -> str:
    """Every value of every table of the test database."""
    return "\n".join(raw_text(table) for table in connection.introspection.table_names())
