"""Set-based inserts for the postback's rows: one statement or one ``COPY`` per table.

A large postback writes tens of thousands of rows, a small one a handful; both go into
the session's own transaction. On PostgreSQL the rows go through psycopg directly: a
small batch as one multi-row ``INSERT``, a large one with its ids drawn from the
table's sequence in one query and the rows streamed with ``COPY``, the fastest way in.
SQLAlchemy's statement layer costs more per statement than the statement itself here.
SQLite gets SQLAlchemy's multi-row ``INSERT … RETURNING``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.orm import DeclarativeBase

from webriskops.database import is_postgresql
from webriskops.extensions import db

# Below this many rows one INSERT is a single round trip and beats COPY's two (sequence
# values, then the stream).
COPY_THRESHOLD = 100


def insert_rows(
    model: type[DeclarativeBase], rows: Sequence[dict[str, Any]], *, key: str | None = None
) -> list[int]:
    """Insert ``rows`` (column name to value, same keys in each).

    With ``key``, a column whose values are distinct among ``rows``, returns the new ids
    in the order of ``rows``; without it, returns nothing (the ids are not needed).
    """
    if not rows:
        return []
    table = model.__table__
    if not is_postgresql():
        statement = insert(table)
        if key is None:
            db.session.connection().execute(statement, rows)
            return []
        statement = statement.returning(table.c.id, sort_by_parameter_order=True)
        return list(db.session.connection().execute(statement, rows).scalars())
    if len(rows) >= COPY_THRESHOLD:
        return _copy(table, rows)
    return _insert_values(table, rows, key)


def _insert_values(table: Table, rows: Sequence[dict[str, Any]], key: str | None) -> list[int]:
    names = list(rows[0])
    row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
    columns = ", ".join(f'"{name}"' for name in names)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ' + ", ".join([row_sql] * len(rows))
    if key is not None:
        # RETURNING follows no promised order; the key maps each id back to its row.
        sql += f' RETURNING "{key}", id'
    adapted = _adapter(table, names)
    params = [value for row in rows for value in adapted(row)]
    cursor = _driver_connection().cursor()
    cursor.execute(sql, params)  # noqa: S608 - names come from the table, values are bound
    if key is None:
        return []
    ids = dict(cursor.fetchall())
    return [ids[row[key]] for row in rows]


def _adapter(table: Table, names: list[str]) -> Callable[[dict[str, Any]], list[Any]]:
    """A function giving a row's values in ``names`` order, JSON wrapped for psycopg."""
    json_names = frozenset(name for name in names if isinstance(table.c[name].type, JSON))

    def adapted(row: dict[str, Any]) -> list[Any]:
        return [
            Jsonb(row[name]) if name in json_names and row[name] is not None else row[name]
            for name in names
        ]

    return adapted


def _driver_connection():
    """The psycopg connection under the session's transaction."""
    return db.session.connection().connection.driver_connection


def _copy(table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    ids = list(
        db.session.connection()
        .execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": len(rows)},
        )
        .scalars()
    )
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in ["id", *names])
    adapted = _adapter(table, names)
    cursor = _driver_connection().cursor()
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:  # noqa: S608
        for row_id, row in zip(ids, rows, strict=True):
            copy.write_row([row_id, *adapted(row)])
    return ids
