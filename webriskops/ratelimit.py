"""The scanner rate limit, with the IETF draft's ``RateLimit`` and ``RateLimit-Policy`` headers.

Counters live in Redis when ``REDIS_URL`` is set (shared by every gunicorn process)
and in memory otherwise. If Redis cannot be reached the limiter lets the request
through: an outage of the counter store must not turn into refused postbacks. The
counters use the app's one Redis client (short timeouts, fail fast while Redis is down).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import Flask
from limits import parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from redis import Redis

from webriskops.redis_client import redis_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimitState:
    """The outcome of counting one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self, policy: str) -> dict[str, str]:
        """The IETF draft headers for this state (``Retry-After`` when refused)."""
        headers = {
            "RateLimit-Policy": policy,
            "RateLimit": f'"scanner";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


class ScannerRateLimiter:
    """Fixed-window limit per scanner credential."""

    def __init__(self, rate: str, redis: Redis | None) -> None:
        self.item = parse(rate)
        self.storage: Storage = counter_storage(redis)
        window = self.item.get_expiry()
        self.policy = f'"scanner";q={self.item.amount};w={window}'

    def hit(self, identity: str) -> RateLimitState:
        """Count one request of ``identity`` and say whether it may go on."""
        key = self.item.key_for(identity)
        try:
            # The fixed-window strategy's own steps, with the count taken from the
            # increment itself: two round trips to Redis instead of three.
            count = self.storage.incr(key, self.item.get_expiry())
            reset_at = self.storage.get_expiry(key)
        except Exception as error:  # noqa: BLE001 - any storage failure fails open
            log.warning("rate limit store unavailable, allowing request: %s", type(error).__name__)
            return RateLimitState(True, self.item.amount, self.item.amount, self.item.get_expiry())
        allowed = count <= self.item.amount
        remaining = max(0, self.item.amount - count)
        reset = max(0, math.ceil(reset_at - time.time()))
        return RateLimitState(allowed, self.item.amount, remaining, reset)


def counter_storage(redis: Redis | None) -> Storage:
    """Counters in the app's Redis (sharing its connection pool), or in memory without one."""
    if redis is None:
        return MemoryStorage()
    return RedisStorage("redis://", connection_pool=redis.connection_pool)


def init_app(app: Flask) -> None:
    """Create the app's scanner limiter (no connection is opened until the first hit)."""
    app.extensions["scanner_rate_limiter"] = ScannerRateLimiter(
        app.config["SCANNER_RATE_LIMIT"], redis_client(app)
    )


def scanner_limiter(app: Flask) -> ScannerRateLimiter:
    """The app's scanner limiter."""
    return app.extensions["scanner_rate_limiter"]
