"""Settings classes, read from the environment once when the class is created.

``Config`` holds what production needs; ``DevelopmentConfig`` and ``TestConfig``
change only what differs. Parsers fail loudly on a bad value so a typo in an
environment variable stops the process at start-up instead of misbehaving later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|\s+per\s+)\s*(\d+\s+)?(second|minute|hour|day)s?\s*$", re.I)


def parse_boolean(name: str, default: bool = False, env: Mapping[str, str] | None = None) -> bool:
    """Read a boolean environment variable; anything but a known spelling is an error."""
    raw = (os.environ if env is None else env).get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be one of 1/0/true/false/yes/no/on/off, not {raw!r}")


def parse_int(name: str, default: int, minimum: int = 1) -> int:
    """Read an integer environment variable of at least ``minimum``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def parse_rate_limit(value: str) -> str:
    """Check a rate such as ``600/minute`` and return it unchanged."""
    if not _RATE.match(value):
        raise ValueError(f"WRO_SCANNER_RATE_LIMIT must look like '600/minute', not {value!r}")
    return value.strip()


def database_url(raw: str | None) -> str:
    """Normalise DATABASE_URL: Heroku's ``postgres://`` scheme and psycopg 3 as the driver."""
    if not raw:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'webriskops.sqlite3'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def s3_endpoint(raw: str | None, secure: bool) -> tuple[str | None, bool]:
    """Split ``WRO_S3_ENDPOINT`` into the SDK's ``host:port`` and whether to use TLS.

    Most S3 tools take a URL (``http://host:port``), the ``minio`` SDK a bare
    ``host:port``: both are accepted, and a URL's scheme decides TLS.
    """
    if not raw or not raw.strip():
        return None, secure
    value = raw.strip()
    if "://" not in value:
        value, scheme = "//" + value, None
    else:
        scheme = value.split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            scheme = "bad"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if (
        scheme == "bad"
        or parts is None
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise ValueError(
            "WRO_S3_ENDPOINT must be host:port, http://host:port or https://host:port "
            f"(no path or credentials), not {raw!r}"
        )
    return parts.netloc, secure if scheme is None else scheme == "https"


class Config:
    """Production settings; every value comes from the environment."""

    ENV_NAME = "production"
    TESTING = False
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # No pool_pre_ping: PostgreSQL connections the server closed are replaced at checkout
    # without a round trip (webriskops.database).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    # Without REDIS_URL: run after-commit jobs in a background pool of the web process
    # (the 202 goes out first). The test suite runs them inline to assert on them.
    JOBS_IN_BACKGROUND = True
    # /metrics is served only when this is set, to "Authorization: Bearer <token>".
    METRICS_TOKEN = os.environ.get("WRO_METRICS_TOKEN") or None

    SCANNER_SHARED_SECRET = os.environ.get("WRO_SCANNER_SHARED_SECRET") or None
    SCANNER_SHARED_SECRET_PREVIOUS = os.environ.get("WRO_SCANNER_SHARED_SECRET_PREVIOUS") or None
    SCANNER_RATE_LIMIT = parse_rate_limit(os.environ.get("WRO_SCANNER_RATE_LIMIT", "600/minute"))
    # Dispatch (API.md 3.9): a run whose lease expires this many times, or that is not
    # finished this long after it was created, fails with SCAN_TIMEOUT.
    SCAN_MAX_ATTEMPTS = parse_int("WRO_SCAN_MAX_ATTEMPTS", 3)
    SCAN_DEADLINE_SECONDS = parse_int("WRO_SCAN_DEADLINE_SECONDS", 3600)

    S3_ENDPOINT, S3_SECURE = s3_endpoint(
        os.environ.get("WRO_S3_ENDPOINT"), parse_boolean("WRO_S3_SECURE", default=True)
    )
    S3_ACCESS_KEY = os.environ.get("WRO_S3_ACCESS_KEY") or None
    S3_SECRET_KEY = os.environ.get("WRO_S3_SECRET_KEY") or None
    S3_BUCKET = os.environ.get("WRO_S3_BUCKET", "webriskops-artifacts")
    ARTIFACTS_DIR = os.environ.get("WRO_ARTIFACTS_DIR") or str(INSTANCE_DIR / "artifacts")

    SMTP_URL = os.environ.get("WRO_SMTP_URL") or None
    WEBHOOKS_ALLOW_PRIVATE = parse_boolean("WRO_WEBHOOKS_ALLOW_PRIVATE", default=False)

    # Section 3.3 limits; configurable so an operator can raise them for big sites.
    MAX_BODY_BYTES = parse_int("WRO_MAX_BODY_BYTES", 16 * 1024 * 1024)
    MAX_PAGES = parse_int("WRO_MAX_PAGES", 1000)
    MAX_ISSUES_PER_PAGE = parse_int("WRO_MAX_ISSUES_PER_PAGE", 5000)
    MAX_ISSUES_PER_PAYLOAD = parse_int("WRO_MAX_ISSUES_PER_PAYLOAD", 50000)
    IDEMPOTENCY_TTL_SECONDS = parse_int("WRO_IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
    # A key left "in flight" by a crashed process is released after this long.
    IDEMPOTENCY_LOCK_SECONDS = parse_int("WRO_IDEMPOTENCY_LOCK_SECONDS", 120)

    # How many proxies in front of the app to believe about the client's address and
    # scheme (X-Forwarded-For/-Proto); Heroku's router is one. 0: believe none.
    TRUSTED_PROXIES = parse_int("WRO_TRUSTED_PROXIES", 0, minimum=0)

    # Sessions end on the server side (table ``user_sessions``): after this long without a
    # request, and this long after login whatever the activity.
    SESSION_IDLE_SECONDS = parse_int("WRO_SESSION_IDLE_SECONDS", 8 * 3600)
    SESSION_MAX_SECONDS = parse_int("WRO_SESSION_MAX_SECONDS", 7 * 24 * 3600)
    # Browsers remember to use HTTPS only (production is served over HTTPS behind the router).
    HSTS_SECONDS = parse_int("WRO_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True

    @classmethod
    def check(cls) -> None:
        """Refuse to start production without the settings it cannot run safely without."""
        if not cls.SECRET_KEY:
            raise RuntimeError(
                "SECRET_KEY must be set in production (WRO_ENV defaults to production; "
                "use WRO_ENV=development for local use, as `make run` does)"
            )


class DevelopmentConfig(Config):
    """Local use: SQLite, local artifacts and in-process jobs unless the environment says so."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-not-secret"
    SESSION_COOKIE_SECURE = False
    HSTS_SECONDS = 0  # served over plain HTTP on localhost
    SCANNER_SHARED_SECRET = (
        os.environ.get("WRO_SCANNER_SHARED_SECRET") or "dev-scanner-secret-change-me"
    )

    @classmethod
    def check(cls) -> None:
        """Development runs with defaults."""


class TestConfig(DevelopmentConfig):
    """Base for the test suite; fixtures subclass it with the database they created."""

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - tests only
    SCANNER_SHARED_SECRET = "test-scanner-secret-0123456789"  # noqa: S105 - tests only
    SCANNER_SHARED_SECRET_PREVIOUS = None
    REDIS_URL = None
    JOBS_IN_BACKGROUND = False
    METRICS_TOKEN = None
    S3_ENDPOINT = None
    SMTP_URL = None
    WTF_CSRF_ENABLED = True


CONFIGS = {"production": Config, "development": DevelopmentConfig, "test": TestConfig}


def config_from_environment() -> type[Config]:
    """Pick the settings class named by ``WRO_ENV`` (default ``production``).

    Production is the default so that a one-off command (``heroku run flask …``) gets the
    same settings as the processes of the Procfile; ``make run`` and the tests choose
    ``development`` or ``test`` explicitly.
    """
    name = os.environ.get("WRO_ENV", "production")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"WRO_ENV must be one of {sorted(CONFIGS)}, not {name!r}") from None
