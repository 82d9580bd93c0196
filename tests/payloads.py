"""Builders of scanner payloads for tests (valid unless a test breaks them on purpose)."""

from __future__ import annotations

import copy
from typing import Any


def issue(n: int = 0, severity: str = "medium", **overrides: Any) -> dict[str, Any]:
    """A valid issue; ``n`` makes the fingerprint unique."""
    data = {
        "category": "security",
        "type": "missing-header",
        "severity": severity,
        "title": f"Missing security header {n}",
        "description": "The response lacks a security header.",
        "fingerprint": f"fp:missing-header:{n:06d}",
        "confidence": 80,
        "evidence": "HTTP/1.1 200 OK",
    }
    data.update(overrides)
    return data


def page(run_id: int, n: int = 0, issues: list[dict] | None = None) -> dict[str, Any]:
    """A valid ``pages[]`` entry."""
    return {
        "page": {
            "url": f"https://example.com/page/{n}",
            "normalizedUrl": f"https://example.com/page/{n}",
            "statusCode": 200,
            "pageType": "content",
            "responseHeaders": {"content-type": "text/html", "x-powered-by": "Express"},
            "title": f"Page {n}",
        },
        "artifacts": {
            "screenshotPath": f"scan-runs/{run_id}/page-{n}.png",
            "htmlSnapshotPath": f"scan-runs/{run_id}/page-{n}.html",
        },
        "issues": issues if issues is not None else [issue(n)],
    }


def completed(run_id: int, issues: list[dict] | None = None, **top: Any) -> dict[str, Any]:
    """A valid single-page completed payload."""
    entry = page(run_id, 0, issues)
    return {"scanRunId": run_id, "status": "completed", **entry, **top}


def multi(run_id: int, pages: int = 3, issues_per_page: int = 2, **top: Any) -> dict[str, Any]:
    """A valid multi-page completed payload with distinct issues per page."""
    return {
        "scanRunId": run_id,
        "status": "completed",
        "pages": [
            page(run_id, p, [issue(p * 1000 + i) for i in range(issues_per_page)])
            for p in range(pages)
        ],
        **top,
    }


def failed(run_id: int, **error: Any) -> dict[str, Any]:
    """A valid failed payload."""
    return {
        "scanRunId": run_id,
        "status": "failed",
        "error": {"code": "NAVIGATION_TIMEOUT", "message": "The page did not load.", **error},
    }


def deep(data: dict[str, Any]) -> dict[str, Any]:
    """A copy to mutate."""
    return copy.deepcopy(data)
