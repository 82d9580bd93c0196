"""Set-based inserts for the postback's rows: ``COPY`` on PostgreSQL, executemany elsewhere.

A large postback writes tens of thousands of rows. On PostgreSQL the ids are drawn
from the table's sequence in one query and the rows are streamed with ``COPY``, the
fastest way in; small batches, and SQLite, use a multi-row ``INSERT … RETURNING``.
Either way the rows go into the session's own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, insert, text
from sqlalchemy.orm import DeclarativeBase

from webriskops.database import is_postgresql
from webriskops.extensions import db

# Below this many rows one INSERT … RETURNING is a single round trip and beats COPY's
# two (sequence values, then the stream).
COPY_THRESHOLD = 100


def insert_rows(model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (column name to value, same keys in each); return their ids in order."""
    if not rows:
        return []
    if is_postgresql() and len(rows) >= COPY_THRESHOLD:
        return _copy(model, rows)
    # Core, not the ORM's bulk insert: these rows never become objects in the session, and
    # skipping its bookkeeping halves the cost of a small postback's inserts.
    table = model.__table__
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(db.session.connection().execute(statement, rows).scalars())


def _copy(model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]) -> list[int]:
    table = model.__table__
    connection = db.session.connection()
    ids = list(
        connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": len(rows)},
        ).scalars()
    )
    names = list(rows[0])
    json_columns = {name for name in names if isinstance(table.c[name].type, JSON)}
    columns = ", ".join(f'"{name}"' for name in ["id", *names])
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:  # noqa: S608
        for row_id, row in zip(ids, rows, strict=True):
            copy.write_row(
                [row_id]
                + [
                    Jsonb(row[name])
                    if name in json_columns and row[name] is not None
                    else row[name]
                    for name in names
                ]
            )
    return ids
