"""Set-based inserts for the postback's rows: one path per dialect, one column list.

A large postback writes tens of thousands of rows, a small one a handful; both go into
the session's own transaction. ``_Batch`` settles once what every dialect writes: the
columns (the rows' own, plus every column with a Python-side default the rows leave
out, filled in as SQLAlchemy would) and each row's values in that order.

- PostgreSQL goes through psycopg directly (SQLAlchemy's statement layer costs more per
  statement than the statement itself here): a small batch as one ``INSERT … SELECT
  FROM unnest(…) RETURNING`` of one array per column, a large one with its ids drawn
  from the table's sequence and the rows streamed with ``COPY``, the fastest way in.
- SQLite gets SQLAlchemy's multi-row ``INSERT … RETURNING``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase

from webriskops.database import is_postgresql
from webriskops.extensions import db

# Below this many rows one INSERT is a single round trip and beats COPY's two (sequence
# values, then the stream).
COPY_THRESHOLD = 100


class _Batch:
    """The rows of one insert as every dialect writes them: columns, then values."""

    def __init__(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self.table = table
        self.rows = rows
        self._given = list(rows[0])
        self._defaults: list[Any] = []
        defaulted: list[str] = []
        for column in table.columns:
            default = column.default
            if column.name in self._given or default is None:
                continue
            if not (default.is_scalar or default.is_callable):
                # A SQL expression would be evaluated by SQLAlchemy on SQLite only.
                raise TypeError(f"{table.name}.{column.name}: use server_default for SQL")
            self._defaults.append(default)
            defaulted.append(column.name)
        # Checked against the table, so the names are safe to quote into SQL.
        self.names = [table.c[name].name for name in self._given] + defaulted
        self._json = frozenset(
            index for index, name in enumerate(self.names) if isinstance(table.c[name].type, JSON)
        )

    def values(self, row: dict[str, Any]) -> list[Any]:
        """``row``'s values in column order, defaults filled in."""
        values = [row[name] for name in self._given]
        for default in self._defaults:
            # SQLAlchemy wraps a callable default to take an execution context; none is needed.
            values.append(default.arg(None) if default.is_callable else default.arg)
        return values

    def dicts(self) -> list[dict[str, Any]]:
        """Every row as a complete column dict (for SQLAlchemy)."""
        return [dict(zip(self.names, self.values(row), strict=True)) for row in self.rows]

    def psycopg_values(self, row: dict[str, Any]) -> list[Any]:
        """``values`` with JSON columns wrapped for psycopg."""
        values = self.values(row)
        for index in self._json:
            if values[index] is not None:
                values[index] = Jsonb(values[index])
        return values


def insert_rows(
    model: type[DeclarativeBase], rows: Sequence[dict[str, Any]], *, key: str | None = None
) -> list[int]:
    """Insert ``rows`` (column name to value, same keys in each).

    With ``key``, a column whose values are distinct among ``rows``, returns the new ids
    in the order of ``rows``; without it, returns nothing (the ids are not needed).
    """
    if not rows:
        return []
    batch = _Batch(model.__table__, rows)
    if is_postgresql():
        return _insert_postgresql(batch, key)
    return _insert_sqlite(batch, key)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _insert_postgresql(batch: _Batch, key: str | None) -> list[int]:
    cursor = db.session.connection().connection.driver_connection.cursor()
    table = batch.table.name
    if len(batch.rows) < COPY_THRESHOLD:
        # One array per column: the statement is the same whatever the number of rows,
        # so psycopg keeps it converted and PostgreSQL prepared (``VALUES (…), (…)``
        # differs per row count, and psycopg converts one of over 50 parameters anew).
        columns = zip(*(batch.psycopg_values(row) for row in batch.rows), strict=True)
        statement = _unnest_statement(batch.table, tuple(batch.names), key)
        cursor.execute(statement, [list(column) for column in columns])
        if key is None:
            return []
        # RETURNING follows no promised order; the key maps each id back to its row.
        ids = dict(cursor.fetchall())
        return [ids[row[key]] for row in batch.rows]
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        (table, len(batch.rows)),
    )
    ids = [row_id for (row_id,) in cursor.fetchall()]
    with cursor.copy(f'COPY "{table}" ({_quoted(["id", *batch.names])}) FROM STDIN') as copy:  # noqa: S608
        for row_id, row in zip(ids, batch.rows, strict=True):
            copy.write_row([row_id, *batch.psycopg_values(row)])
    return ids if key is not None else []


@functools.cache
def _unnest_statement(table: Table, names: tuple[str, ...], key: str | None) -> str:
    """``INSERT … SELECT * FROM unnest(<one typed array per column>)``, built once per shape."""
    dialect = postgresql.dialect()
    arrays = ", ".join(f"%s::{table.c[name].type.compile(dialect=dialect)}[]" for name in names)
    statement = f'INSERT INTO "{table.name}" ({_quoted(names)}) SELECT * FROM unnest({arrays})'  # noqa: S608 - names from the table
    return statement if key is None else statement + f' RETURNING "{key}", id'


def _insert_sqlite(batch: _Batch, key: str | None) -> list[int]:
    connection = db.session.connection()
    statement = insert(batch.table)
    if key is None:
        connection.execute(statement, batch.dicts())
        return []
    statement = statement.returning(batch.table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, batch.dicts()).scalars())
