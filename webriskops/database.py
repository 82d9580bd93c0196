"""Engine settings per database: SQLite gets WAL and a busy timeout, writers lock rows.

A pooled PostgreSQL connection is checked at checkout without a round trip: the server
that ends a connection (a restart, a stop, ``pg_terminate_backend``) says so on its
socket, so an idle connection whose socket has something to read is dead and is
replaced before the request uses it. ``pool_pre_ping`` did the same with a ``SELECT 1``
per checkout, a round trip per postback and per finished run.

The embedded default (SQLite) must serve several gunicorn workers, so every
connection turns on WAL (readers never wait for the writer) and a busy timeout
(writers queue instead of failing with "database is locked"). A postback takes the
write lock up front with ``BEGIN IMMEDIATE``: a deferred transaction that reads and
then writes can deadlock with another one, and SQLite then fails at once instead of
waiting. On PostgreSQL the same call is a no-op and rows are locked with
``SELECT … FOR UPDATE`` instead.
"""

from __future__ import annotations

import select

from flask import Flask
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Engine

from webriskops.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 30_000


def init_app(app: Flask) -> None:
    """Install the per-connection settings on the app's engine."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _refuse_closed_by_server)


def _refuse_closed_by_server(dbapi_connection, _record, _proxy) -> None:
    """Make the pool replace a connection the server has closed (SQLAlchemy's pessimistic check).

    Between requests a connection is idle: the server sends nothing on it unless it ends
    it (its last error message, then end of file). Anything to read means that, and the
    pool, told by ``DisconnectionError``, opens a new connection in its place.
    """
    if dbapi_connection.closed:
        raise exc.DisconnectionError("connection closed")
    poll = select.poll()
    poll.register(dbapi_connection.fileno(), select.POLLIN)
    if poll.poll(0):
        raise exc.DisconnectionError("the server closed the connection")


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def relax_commits(engine: Engine) -> None:
    """Let this process's PostgreSQL commits return before their WAL is on disk.

    For the job worker, whose every task is idempotent: a commit lost in a PostgreSQL
    crash takes every later one with it (the WAL is written in order), so the outbox row
    is not ``done`` either and the job simply runs again. The few commits that must not
    be lost because something outside the database follows them (an email, a webhook
    request) use ``durable_commit``.
    """
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _async_commit_on_connect)


def _async_commit_on_connect(dbapi_connection, _record) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    dbapi_connection.commit()


def durable_commit() -> None:
    """Commit the session's transaction and wait until it is on disk, whatever the session."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO on"))
    db.session.commit()


def is_postgresql(engine: Engine | None = None) -> bool:
    """True when the app runs on PostgreSQL."""
    return (engine or db.engine).dialect.name == "postgresql"


def begin_write() -> None:
    """Start the session's transaction as a writer (SQLite: take the write lock now)."""
    if db.engine.dialect.name != "sqlite":
        return
    connection = db.session.connection()
    # pysqlite opens its transaction lazily, before the first write; take the lock now
    # unless a write already opened one.
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
