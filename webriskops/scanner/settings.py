"""The scanner's settings, read from the environment once at start-up.

The scanner often runs on a host of its own, without the app's configuration, so it
reads only what it needs here; a bad value stops it at start-up, as the app does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from config import parse_boolean

# The same default folder as the app's ``WRO_ARTIFACTS_DIR`` (config.INSTANCE_DIR), so
# an app and a scanner started from one checkout share their artifacts without setup.
DEFAULT_ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "instance" / "artifacts"
USER_AGENT = "WebRiskOpsScanner/0.1 (+https://webriskops.example/docs/runtime)"
# The token robots.txt groups are matched against.
ROBOTS_AGENT = "WebRiskOpsScanner"


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, not {raw}")
    return value


@dataclass(frozen=True)
class ScannerSettings:
    """Everything the runtime needs to know; tests build one directly."""

    api_url: str = ""
    secret: str = field(default="", repr=False)
    concurrency: int = 2  # runs scanned at the same time
    lease_seconds: int = 300
    heartbeat_seconds: float | None = None  # default: a third of the lease
    poll_seconds: float = 5.0  # wait between claims while nothing is queued
    max_pages: int = 50
    max_depth: int = 3
    requests_per_second: float = 4.0  # per site
    site_concurrency: int = 2  # requests in flight per site
    request_timeout: float = 15.0
    time_budget_seconds: float = 600.0
    max_page_bytes: int = 5 * 1024 * 1024
    slow_page_ms: int = 3000
    allow_private: bool = False
    ca_bundle: str | None = None  # PEM file of the CAs to trust instead of the default ones
    screenshots: bool = True  # when Chromium is installed
    chromium: str = "/usr/bin/chromium"
    max_screenshots: int = 20
    screenshot_timeout: float = 30.0
    # ``webriskops.storage.create_storage`` settings (S3_* or ARTIFACTS_DIR)
    storage: dict = field(
        default_factory=lambda: {"ARTIFACTS_DIR": str(DEFAULT_ARTIFACTS_DIR)}, repr=False
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ScannerSettings:
        """Settings from ``WRO_*`` environment variables; ``overrides`` win (CLI options)."""
        env = os.environ if env is None else env
        values: dict = {
            "api_url": env.get("WRO_API_URL", ""),
            "secret": env.get("WRO_SCANNER_SHARED_SECRET", ""),
            "concurrency": int(_number(env, "WRO_SCANNER_CONCURRENCY", 2, 1)),
            "lease_seconds": int(_number(env, "WRO_SCANNER_LEASE_SECONDS", 300, 30)),
            "heartbeat_seconds": _number(env, "WRO_SCANNER_HEARTBEAT_SECONDS", 0, 0) or None,
            "poll_seconds": _number(env, "WRO_SCANNER_POLL_SECONDS", 5.0, 0.1),
            "max_pages": int(_number(env, "WRO_SCANNER_MAX_PAGES", 50, 1)),
            "max_depth": int(_number(env, "WRO_SCANNER_MAX_DEPTH", 3, 0)),
            "requests_per_second": _number(env, "WRO_SCANNER_REQUESTS_PER_SECOND", 4.0, 0.01),
            "site_concurrency": int(_number(env, "WRO_SCANNER_SITE_CONCURRENCY", 2, 1)),
            "request_timeout": _number(env, "WRO_SCANNER_REQUEST_TIMEOUT", 15.0, 0.1),
            "time_budget_seconds": _number(env, "WRO_SCANNER_TIME_BUDGET_SECONDS", 600.0, 1),
            "slow_page_ms": int(_number(env, "WRO_SCANNER_SLOW_PAGE_MS", 3000, 1)),
            "allow_private": parse_boolean("WRO_SCANNER_ALLOW_PRIVATE", False, env),
            "ca_bundle": env.get("WRO_SCANNER_CA_BUNDLE") or None,
            "screenshots": parse_boolean("WRO_SCANNER_SCREENSHOTS", True, env),
            "chromium": env.get("WRO_SCANNER_CHROMIUM") or "/usr/bin/chromium",
            "max_screenshots": int(_number(env, "WRO_SCANNER_MAX_SCREENSHOTS", 20, 0)),
            "storage": {
                "S3_ENDPOINT": env.get("WRO_S3_ENDPOINT") or None,
                "S3_ACCESS_KEY": env.get("WRO_S3_ACCESS_KEY") or None,
                "S3_SECRET_KEY": env.get("WRO_S3_SECRET_KEY") or None,
                "S3_BUCKET": env.get("WRO_S3_BUCKET") or "webriskops-artifacts",
                "S3_SECURE": parse_boolean("WRO_S3_SECURE", True, env),
                "ARTIFACTS_DIR": env.get("WRO_ARTIFACTS_DIR") or str(DEFAULT_ARTIFACTS_DIR),
            },
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)
