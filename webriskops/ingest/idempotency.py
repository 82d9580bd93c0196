"""``Idempotency-Key`` handling for scanner postbacks (section 3.6).

Only accepted (202) answers are remembered. A request that fails validation or hits
an unknown run releases its key, so the scanner can correct the payload and retry
with the same key, as Stripe does for requests that never started executing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from webriskops.database import begin_write, is_postgresql
from webriskops.errors import DATABASE_UNAVAILABLE, ApiError, validation_error
from webriskops.extensions import db
from webriskops.models import IdempotencyRecord
from webriskops.models.base import as_utc, utcnow

log = logging.getLogger(__name__)
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


@dataclass(frozen=True)
class Replay:
    """An earlier answer to send again."""

    status: int
    body: bytes


def parse_key(header: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header: bare or a quoted string, 1-255 printable ASCII."""
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY.match(value):
        raise validation_error(
            {"Idempotency-Key": ["Must be 1-255 printable ASCII characters, bare or quoted."]},
            "The Idempotency-Key header is invalid.",
        )
    return value


def request_hash(body: bytes) -> str:
    """Fingerprint of a request body (after gzip) to tell a retry from a reuse."""
    return hashlib.sha256(body).hexdigest()


def claim(key: str, body_hash: str) -> Replay | None:
    """Claim ``key`` for this request in a committed transaction of its own.

    Returns a ``Replay`` when the same body was already answered, ``None`` when the
    key is now ours; raises 409 while another request holds it and 422 when it was
    used with another body.
    """
    config = current_app.config
    now = utcnow()
    if _insert_new(key, body_hash, now, config["IDEMPOTENCY_TTL_SECONDS"]):
        return None
    for _attempt in range(3):
        begin_write()
        record = db.session.get(IdempotencyRecord, key)
        if record is None:
            db.session.add(
                IdempotencyRecord(
                    key=key,
                    request_hash=body_hash,
                    locked_at=now,
                    created_at=now,
                    expires_at=now + timedelta(seconds=config["IDEMPOTENCY_TTL_SECONDS"]),
                )
            )
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                continue
            return None
        if as_utc(record.expires_at) <= now:
            db.session.delete(record)
            db.session.commit()
            continue
        if record.request_hash != body_hash:
            db.session.rollback()
            raise ApiError(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used with a different body. Use a new key for a new "
                "postback; reuse a key only to retry the exact same request.",
            )
        if record.state == "completed":
            replay = Replay(record.response_status or 202, (record.response_body or "").encode())
            db.session.rollback()
            return replay
        stale_before = now - timedelta(seconds=config["IDEMPOTENCY_LOCK_SECONDS"])
        if as_utc(record.locked_at) < stale_before or _server_restarted_since(record.locked_at):
            # The request that held the key died without releasing it: take it over.
            taken = db.session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.locked_at == record.locked_at,
                    IdempotencyRecord.state == "processing",
                )
                .values(locked_at=now)
            ).rowcount
            db.session.commit()
            if taken == 1:
                return None
            continue
        db.session.rollback()
        raise _conflict()
    raise _conflict()


_TABLE = IdempotencyRecord.__table__
# Claim a key nobody holds: insert, or do nothing if the key exists (built once per dialect).
_CLAIM_NEW = {
    name: dialect_insert(_TABLE)
    .on_conflict_do_nothing(index_elements=[_TABLE.c.key])
    .returning(_TABLE.c.key)
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
# Store the answer; the SET clause also takes the columns passed with each execution.
_COMPLETE = (
    update(_TABLE).where(_TABLE.c.key == bindparam("idempotency_key")).values(state="completed")
)


def _insert_new(key: str, body_hash: str, now: datetime, ttl_seconds: int) -> bool:
    """The common case in one statement: claim a key nobody has used; False if taken."""
    begin_write()
    statement = _CLAIM_NEW[db.engine.dialect.name]
    row = {
        "key": key,
        "request_hash": body_hash,
        "state": "processing",
        "locked_at": now,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl_seconds),
    }
    inserted = db.session.connection().execute(statement, row).first()
    db.session.commit()
    return inserted is not None


def _server_restarted_since(locked_at: datetime) -> bool:
    """True when PostgreSQL restarted after the key was locked.

    A restart ends every connection, so the request that held the key cannot still be
    working on it (and could not release it either): the key is free at once instead of
    after ``IDEMPOTENCY_LOCK_SECONDS``.
    """
    if not is_postgresql():
        return False
    started = db.session.scalar(_POSTMASTER_START)
    return started is not None and as_utc(started) > as_utc(locked_at)


_POSTMASTER_START = text("SELECT pg_postmaster_start_time()")


def _conflict() -> ApiError:
    return ApiError(
        409,
        "IDEMPOTENCY_CONFLICT",
        "A request with this Idempotency-Key is still being processed. Retry after a short wait.",
        headers={"Retry-After": "1"},
    )


def complete(key: str, status: int, body: bytes) -> None:
    """Store the answer with the postback's own transaction (not committed here)."""
    answer = {"response_status": status, "response_body": body.decode()}
    db.session.connection().execute(_COMPLETE, {"idempotency_key": key, **answer})


def release(key: str) -> None:
    """Give the key up after a failed request so a corrected retry can use it.

    When the database itself failed the key may stay claimed; the next attempt takes it
    over as soon as the database has restarted (or after ``IDEMPOTENCY_LOCK_SECONDS``).
    """
    try:
        db.session.rollback()
        db.session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.key == key, IdempotencyRecord.state == "processing"
            )
        )
        db.session.commit()
    except DATABASE_UNAVAILABLE as error:
        log.warning("could not release an idempotency key: %s", type(error).__name__)
        with contextlib.suppress(Exception):
            db.session.rollback()


def purge_expired() -> int:
    """Delete records past their retention; returns how many."""
    result = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow())
    )
    db.session.commit()
    return result.rowcount


__all__ = ["Replay", "claim", "complete", "parse_key", "purge_expired", "release", "request_hash"]
