"""The domain's words, written once: severities, categories, page types and limits.

Everything else imports them: the ingest schemas (and through them the fast path and
the OpenAPI document), the models, the report summary and charts, the ordering of the
read API, the demo data and the benchmarks. Also here, because three packages need
the same answer: how to read a ``Retry-After`` header and how long RQ keeps a job.
"""

from __future__ import annotations

import email.utils
import enum
import time


class Severity(enum.StrEnum):
    """How bad a finding is; ``weight`` feeds the risk score, ``rank`` orders lists."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def weight(self) -> int:
        """Points this severity adds to the risk score (section 3.8 of the contract)."""
        return _WEIGHTS[self]

    @property
    def rank(self) -> int:
        """0 for the most severe; lists sort by it."""
        return _RANKS[self]


_WEIGHTS = {Severity.HIGH: 10, Severity.MEDIUM: 4, Severity.LOW: 1, Severity.INFO: 0}
_RANKS = {severity: rank for rank, severity in enumerate(Severity)}

# Most severe first: the order of charts, counters and sorted lists.
SEVERITIES: tuple[str, ...] = tuple(severity.value for severity in Severity)
RISK_SCORE_MAX = 100

CATEGORIES: tuple[str, ...] = (
    "security", "privacy", "compliance", "accessibility", "performance", "seo", "reliability",
    "content",
)  # fmt: skip
PAGE_TYPES: tuple[str, ...] = (
    "home", "landing", "login", "signup", "password_reset", "account", "checkout", "cart",
    "product", "category", "search", "pricing", "contact", "content", "legal", "error", "other",
)  # fmt: skip
# The two statuses a scanner may post; a run is also ``queued`` or ``running`` before.
RESULT_STATUSES: tuple[str, ...] = ("completed", "failed")

# Integers stored in 32 bits (counters, load times) and ids stored in 64 bits.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def is_row_id(ident: int) -> bool:
    """Whether ``ident`` can be a stored row id (BIGINT, from 1).

    A path id beyond BIGINT would make PostgreSQL raise; it cannot exist, so it is a 404.
    """
    return 1 <= ident <= INT64_MAX


def risk_score(high: int, medium: int, low: int) -> int:
    """``min(100, 10·high + 4·medium + 1·low)``."""
    return min(
        RISK_SCORE_MAX,
        Severity.HIGH.weight * high + Severity.MEDIUM.weight * medium + Severity.LOW.weight * low,
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; "-0000" (no zone known) is not one.
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# Pagination of the read API's lists.
MAX_PAGE_NUMBER = 10**9
MAX_PER_PAGE = 100

# A task's run time limit, and how long RQ keeps job results and failures.
JOB_TIMEOUT = 300
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600
