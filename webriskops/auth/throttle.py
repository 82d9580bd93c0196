"""Login throttling: failed attempts are counted per email and client address.

Counters live in Redis when ``REDIS_URL`` is set (shared by every gunicorn process)
and in memory otherwise, as for the scanner limit. Only failures count, and a
successful login clears its counter, so a person who mistypes once is not locked out.
A second, looser limit per address slows down guessing across many accounts.

Unlike the scanner limit, this one fails closed: while the counters cannot be read,
login answers 503 with ``Retry-After`` (``ThrottleUnavailable``), since letting every
guess through would switch brute-force protection off exactly when Redis is down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, current_app
from limits import parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from redis import Redis

from webriskops.ratelimit import counter_storage
from webriskops.redis_client import redis_client

log = logging.getLogger(__name__)

DEFAULT_PER_ACCOUNT = "5/minute"
DEFAULT_PER_ADDRESS = "100/hour"
UNAVAILABLE_RETRY_AFTER = 30


class ThrottleUnavailable(Exception):
    """The failed-login counters cannot be read: login must be refused for now."""


class LoginThrottle:
    """Counts failed logins; ``retry_after`` says how long a caller must wait, if at all."""

    def __init__(self, per_account: str, per_address: str, redis: Redis | None) -> None:
        self.storage: Storage = counter_storage(redis)
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.per_account = parse(per_account)
        self.per_address = parse(per_address)

    def _keys(self, email: str, address: str) -> list[tuple[object, str]]:
        # The email is hashed so the counter store never holds who tried to log in.
        account = hashlib.sha256(f"{email.strip().lower()}|{address}".encode()).hexdigest()
        return [
            (self.per_account, f"login:acct:{account}"),
            (self.per_address, f"login:ip:{address}"),
        ]

    def retry_after(self, email: str, address: str) -> int:
        """Seconds to wait before another attempt is allowed (0 when allowed now).

        Raises ``ThrottleUnavailable`` when the counters cannot be read.
        """
        try:
            waits = [
                math.ceil(self.limiter.get_window_stats(item, key).reset_time - time.time())
                for item, key in self._keys(email, address)
                if not self.limiter.test(item, key)
            ]
        except Exception as error:  # noqa: BLE001 - any store failure: refuse, never fail open
            log.warning(
                "login throttle store unavailable, refusing login: %s", type(error).__name__
            )
            raise ThrottleUnavailable from error
        return max([1, *waits]) if waits else 0

    def failed(self, email: str, address: str) -> None:
        """Count one failed attempt (``ThrottleUnavailable`` when it cannot be counted)."""
        try:
            for item, key in self._keys(email, address):
                self.limiter.hit(item, key)
        except Exception as error:  # noqa: BLE001 - see retry_after
            log.warning("login throttle store unavailable: %s", type(error).__name__)
            raise ThrottleUnavailable from error

    def succeeded(self, email: str, address: str) -> None:
        """Forget the account's failures after a successful login."""
        item, key = self._keys(email, address)[0]
        try:
            self.limiter.clear(item, key)
        except Exception as error:  # noqa: BLE001 - see retry_after
            log.warning("login throttle store unavailable: %s", type(error).__name__)


def init_app(app: Flask) -> None:
    """Create the app's login throttle (no connection until the first login)."""
    app.extensions["login_throttle"] = LoginThrottle(
        app.config.get("LOGIN_RATE_LIMIT", DEFAULT_PER_ACCOUNT),
        app.config.get("LOGIN_ADDRESS_RATE_LIMIT", DEFAULT_PER_ADDRESS),
        redis_client(app),
    )


def login_throttle() -> LoginThrottle:
    """The current app's login throttle (bound in ``create_app``)."""
    return current_app.extensions["login_throttle"]
