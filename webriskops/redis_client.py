"""The app's one Redis client: short socket timeouts, no retries, and a circuit breaker.

The queue hand-over, the scanner rate limit and the login throttle share this client
(one connection pool per process). Redis answers in well under a millisecond here, so
a call that takes longer than ``SOCKET_TIMEOUT`` means Redis is hung or gone. After
such a failure every call fails at once for ``COOLDOWN`` seconds instead of waiting
for its own timeout: a hung Redis costs one short timeout per process every few
seconds, not one per call. Callers decide what a failure means (the outbox keeps the
work, the scanner limit lets postbacks through, the login throttle refuses).
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app
from redis import Redis
from redis.backoff import NoBackoff
from redis.connection import Connection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 0.25
CONNECT_TIMEOUT = 0.25
COOLDOWN = 5.0


class CircuitBreaker:
    """Remembers that Redis failed recently, so callers fail fast instead of waiting."""

    def __init__(self, cooldown: float = COOLDOWN) -> None:
        self.cooldown = cooldown
        self._open_until = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise at once while Redis is considered down."""
        if time.monotonic() < self._open_until:
            raise RedisConnectionError("Redis failed recently; not trying again yet")

    def trip(self, error: BaseException) -> None:
        """Consider Redis down for the cooldown."""
        with self._lock:
            if time.monotonic() >= self._open_until:
                log.warning(
                    "Redis unavailable (%s); failing fast for %.0f s",
                    type(error).__name__,
                    self.cooldown,
                )
            self._open_until = time.monotonic() + self.cooldown

    @property
    def is_open(self) -> bool:
        """True while calls fail fast."""
        return time.monotonic() < self._open_until


def _connection_class(breaker: CircuitBreaker) -> type[Connection]:
    class BreakerConnection(Connection):
        """A Redis connection that fails fast while the breaker is open and trips it."""

        def _connect(self):
            breaker.check()
            try:
                return super()._connect()
            except (OSError, RedisConnectionError, RedisTimeoutError) as error:
                breaker.trip(error)
                raise

        def send_packed_command(self, command, check_health=True):
            breaker.check()
            try:
                return super().send_packed_command(command, check_health)
            except (RedisConnectionError, RedisTimeoutError) as error:
                breaker.trip(error)
                raise

        def read_response(self, *args, **kwargs):
            try:
                return super().read_response(*args, **kwargs)
            except (RedisConnectionError, RedisTimeoutError) as error:
                breaker.trip(error)
                raise

    return BreakerConnection


def create_client(url: str, breaker: CircuitBreaker | None = None) -> Redis:
    """A Redis client for ``url`` with short timeouts, no retries and a circuit breaker."""
    breaker = breaker or CircuitBreaker()
    pool = ConnectionPool.from_url(
        url,
        connection_class=_connection_class(breaker),
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        # redis-py retries three times by default: four timeouts for one call.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    client = Redis(connection_pool=pool)
    client.breaker = breaker  # type: ignore[attr-defined]
    return client


def init_app(app: Flask) -> None:
    """Create the app's client when ``REDIS_URL`` is set (no connection until first use)."""
    url = app.config.get("REDIS_URL")
    app.extensions["redis"] = create_client(url) if url else None


def redis_client(app: Flask | None = None) -> Redis | None:
    """The app's Redis client, or None when the app runs without Redis."""
    return (app or current_app).extensions.get("redis")
