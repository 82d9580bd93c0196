"""The scanner rate limit, with the IETF draft's ``RateLimit`` and ``RateLimit-Policy`` headers.

Counters live in Redis when ``REDIS_URL`` is set (shared by every gunicorn process)
and in memory otherwise. If Redis cannot be reached the limiter lets the request
through: an outage of the counter store must not turn into refused postbacks. The
counters use the app's one Redis client (short timeouts, fail fast while Redis is down).
In Redis a request costs one round trip: a script counts it and reads the window's
remaining time in one step.
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
from redis.commands.core import Script

from webriskops.redis_client import redis_client

log = logging.getLogger(__name__)

# The fixed-window strategy's steps (limits' own ``incr_expire`` script: count, start the
# window's expiry on its first hit) with the window's remaining seconds read in the same
# step: one round trip per request instead of two.
_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return {count, redis.call('TTL', KEYS[1])}
"""


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
        self._hit_script: Script | None = None
        if isinstance(self.storage, RedisStorage):
            self._hit_script = self.storage.get_connection().register_script(_HIT)
        window = self.item.get_expiry()
        self.policy = f'"scanner";q={self.item.amount};w={window}'

    def hit(self, identity: str) -> RateLimitState:
        """Count one request of ``identity`` and say whether it may go on."""
        key = self.item.key_for(identity)
        try:
            count, reset = self._count(key)
        except Exception as error:  # noqa: BLE001 - any storage failure fails open
            log.warning("rate limit store unavailable, allowing request: %s", type(error).__name__)
            return RateLimitState(True, self.item.amount, self.item.amount, self.item.get_expiry())
        allowed = count <= self.item.amount
        remaining = max(0, self.item.amount - count)
        return RateLimitState(allowed, self.item.amount, remaining, reset)

    def _count(self, key: str) -> tuple[int, int]:
        """Count one hit on ``key``: the window's count and its remaining whole seconds."""
        expiry = self.item.get_expiry()
        if self._hit_script is None:
            count = self.storage.incr(key, expiry)
            return count, max(0, math.ceil(self.storage.get_expiry(key) - time.time()))
        count, ttl = self._hit_script([self.storage.prefixed_key(key)], [expiry, 1])
        return int(count), max(0, int(ttl))


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
