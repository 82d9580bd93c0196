"""insert_rows: the same rows, ids and column defaults on every dialect and batch size."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text

from webriskops.extensions import db
from webriskops.ingest import bulk
from webriskops.models.base import BigId, Json, Timestamp

STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
_calls = itertools.count()


def _sequence_number() -> int:
    return next(_calls)


class _Model:
    """What insert_rows needs of a model: its table (kept out of the app's metadata)."""

    __table__ = Table(
        "bulk_probe",
        MetaData(),
        Column("id", BigId, primary_key=True),
        Column("name", String(32), nullable=False),
        Column("kind", String(16), nullable=False, default="plain"),
        Column("made_at", Timestamp, nullable=False, default=lambda: STAMP),
        Column("serial", Integer, nullable=False, default=_sequence_number),
        Column("server_side", String(16), nullable=False, server_default=text("'from-db'")),
        Column("data", Json),
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both dialects: the PostgreSQL paths must behave as the SQLite one."""
    return request.param


@pytest.fixture
def probe(app) -> Iterator[Table]:
    """The probe table, created for the test and dropped after it."""
    table = _Model.__table__
    table.create(db.engine, checkfirst=True)
    try:
        yield table
    finally:
        db.session.rollback()
        table.drop(db.engine)


@pytest.mark.parametrize("size", [3, bulk.COPY_THRESHOLD + 5], ids=["insert", "copy"])
@pytest.mark.parametrize("key", ["name", None])
def test_rows_get_ids_in_order_and_every_column_default(probe, size, key):
    rows = [{"name": f"n{i:03d}", "data": {"i": i} if i % 2 else None} for i in range(size)]
    ids = bulk.insert_rows(_Model, rows, key=key)
    db.session.commit()
    stored = db.session.execute(select(probe).order_by(probe.c.name)).mappings().all()
    assert [row["name"] for row in stored] == [row["name"] for row in rows]
    if key is not None:
        assert ids == [row["id"] for row in stored]
    else:
        assert ids == []
    for row, sent in zip(stored, rows, strict=True):
        assert row["kind"] == "plain"
        assert row["made_at"].replace(tzinfo=UTC) == STAMP
        assert row["server_side"] == "from-db"
        assert row["data"] == sent["data"]
    # A callable default is called once per row, as SQLAlchemy does.
    assert len({row["serial"] for row in stored}) == size


def test_a_value_given_wins_over_the_default(probe):
    bulk.insert_rows(_Model, [{"name": "x", "kind": "special"}], key="name")
    db.session.commit()
    assert db.session.scalar(select(probe.c.kind)) == "special"


def test_nothing_to_insert_is_nothing_done(probe):
    assert bulk.insert_rows(_Model, []) == []


def test_a_sql_expression_default_is_refused_on_every_dialect(app):
    class Expression:
        __table__ = Table(
            "bulk_expression",
            MetaData(),
            Column("id", BigId, primary_key=True),
            Column("made_at", Timestamp, default=text("CURRENT_TIMESTAMP")),
            Column("name", String(8)),
        )

    with pytest.raises(TypeError, match="server_default"):
        bulk.insert_rows(Expression, [{"name": "x"}])
