"""A fast acceptor for completed payloads that are entirely valid.

Marshmallow is the source of truth: its schemas define the rules, produce the field
errors and feed the OpenAPI document. Walking tens of thousands of issues through it
is, however, most of the cost of a large postback. This module checks the same rules
with plain Python in one walk; when everything is valid it returns what the schemas
would have loaded, and when anything is off it returns ``None`` and the caller lets
marshmallow produce the exact errors. It may only ever be stricter than the schemas,
never looser; ``tests/ingest/test_fastpath.py`` holds it to that with hypothesis.
"""

from __future__ import annotations

import re
from typing import Any

from webriskops.ingest.fields import (
    INT32_MAX,
    INT64_MAX,
    holds_secret,
    is_artifact_path,
    is_http_url,
)

_TYPE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,99}\Z")
_FINGERPRINT = re.compile(r"^[A-Za-z0-9._:/+=-]{8,128}\Z")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

PAGE_KEYS = (
    "url", "normalizedUrl", "statusCode", "pageType", "responseHeaders", "title",
    "consoleErrorsCount", "networkErrorsCount", "loadTimeMs",
)  # fmt: skip
ISSUE_KEYS = (
    "category", "type", "severity", "title", "description", "fingerprint", "confidence",
    "evidence", "businessImpact", "suggestedRemediation", "reproductionSteps", "screenshotPath",
)  # fmt: skip
COUNTER_KEYS = ("pagesScanned", "issuesCount", "highCount", "mediumCount", "lowCount")


def _text(value: Any, low: int, high: int) -> bool:
    return type(value) is str and low <= len(value) <= high and not _UNSTORABLE.search(value)


def _member(value: Any, allowed: frozenset[str]) -> bool:
    return type(value) is str and value in allowed


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= INT32_MAX


def _url(value: Any) -> bool:
    return _text(value, 0, 2048) and is_http_url(value)


def _artifact(value: Any, prefix: str) -> bool:
    return _text(value, 0, 512) and value.startswith(prefix) and is_artifact_path(value)


def _page(page: Any, page_types: frozenset[str]) -> dict | None:
    if type(page) is not dict:
        return None
    if not (
        _url(page.get("url"))
        and _url(page.get("normalizedUrl"))
        and type(status := page.get("statusCode")) is int
        and 100 <= status <= 599
        and _member(page.get("pageType"), page_types)
    ):
        return None
    headers = page.get("responseHeaders")
    if type(headers) is not dict or len(headers) > 200:
        return None
    for name, value in headers.items():
        if not (_text(name, 1, 256) and _text(value, 0, 8192)):
            return None
    if "title" in page and not _text(page["title"], 0, 500):
        return None
    for name in ("consoleErrorsCount", "networkErrorsCount", "loadTimeMs"):
        if name in page and not _count(page[name]):
            return None
    return {name: page[name] for name in PAGE_KEYS if name in page}


def _issue(issue: Any, prefix: str, sets: dict[str, frozenset[str]]) -> dict | None:
    if type(issue) is not dict:
        return None
    get = issue.get
    if not (
        _member(get("category"), sets["categories"])
        and type(kind := get("type")) is str
        and _TYPE.match(kind)
        and _member(get("severity"), sets["severities"])
        and _text(get("title"), 1, 300)
        and _text(get("description"), 0, 10000)
        and type(fingerprint := get("fingerprint")) is str
        and _FINGERPRINT.match(fingerprint)
        and type(confidence := get("confidence")) is int
        and 0 <= confidence <= 100
        and _text(get("evidence"), 0, 20000)
    ):
        return None
    for name in ("businessImpact", "suggestedRemediation"):
        if name in issue and not _text(issue[name], 0, 10000):
            return None
    if "reproductionSteps" in issue:
        steps = issue["reproductionSteps"]
        if type(steps) is not list or len(steps) > 50:
            return None
        if not all(_text(step, 0, 2000) for step in steps):
            return None
    if "screenshotPath" in issue and not _artifact(issue["screenshotPath"], prefix):
        return None
    return {name: issue[name] for name in ISSUE_KEYS if name in issue}


def _entry(entry: Any, prefix: str, sets: dict[str, frozenset[str]]) -> dict | None:
    if type(entry) is not dict:
        return None
    page = _page(entry.get("page"), sets["page_types"])
    artifacts = entry.get("artifacts")
    issues = entry.get("issues")
    if page is None or type(artifacts) is not dict or type(issues) is not list:
        return None
    if not _artifact(artifacts.get("screenshotPath"), prefix):
        return None
    loaded_artifacts = {"screenshotPath": artifacts["screenshotPath"]}
    if "htmlSnapshotPath" in artifacts:
        if not _artifact(artifacts["htmlSnapshotPath"], prefix):
            return None
        loaded_artifacts["htmlSnapshotPath"] = artifacts["htmlSnapshotPath"]
    loaded_issues = []
    for issue in issues:
        loaded = _issue(issue, prefix, sets)
        if loaded is None:
            return None
        loaded_issues.append(loaded)
    return {"page": page, "artifacts": loaded_artifacts, "issues": loaded_issues}


def _counters(counters: Any) -> dict | None:
    if type(counters) is not dict:
        return None
    for name in COUNTER_KEYS:
        if name in counters and not _count(counters[name]):
            return None
    if "riskScore" in counters:
        score = counters["riskScore"]
        if type(score) not in (int, float) or not 0 <= score <= 100:
            return None
    loaded = {name: counters[name] for name in COUNTER_KEYS if name in counters}
    if "riskScore" in counters:
        loaded["riskScore"] = float(counters["riskScore"])
    return loaded


def _stored_as_sent(result: dict) -> str:
    """The values of fields stored as sent (issue type and fingerprint, artifact keys,
    header names), one per line, so a single redaction scan covers them all."""
    entries = result.get("pages", [result])
    values: list[str] = []
    for entry in entries:
        values.extend(entry["page"]["responseHeaders"])
        values.extend(entry["artifacts"].values())
        for issue in entry["issues"]:
            values.append(issue["type"])
            values.append(issue["fingerprint"])
            if "screenshotPath" in issue:
                values.append(issue["screenshotPath"])
    return "\n".join(values)


def load_completed(data: dict, sets: dict[str, frozenset[str]]) -> dict | None:
    """What the completed schema would load from ``data``, or None to let it decide."""
    run_id = data.get("scanRunId")
    if type(run_id) is not int or not 1 <= run_id <= INT64_MAX:
        return None
    prefix = f"scan-runs/{run_id}/"
    result: dict[str, Any] = {"scanRunId": run_id, "status": "completed"}
    if "counters" in data:
        counters = _counters(data["counters"])
        if counters is None:
            return None
        result["counters"] = counters
    if "pages" in data:
        pages = data["pages"]
        if type(pages) is not list or any(k in data for k in ("page", "artifacts", "issues")):
            return None
        loaded_pages = []
        for entry in pages:
            loaded = _entry(entry, prefix, sets)
            if loaded is None:
                return None
            loaded_pages.append(loaded)
        result["pages"] = loaded_pages
    else:
        entry = _entry(data, prefix, sets)
        if entry is None:
            return None
        result.update(entry)
    # A secret in a field stored as sent is refused: the schemas say which field.
    return None if holds_secret(_stored_as_sent(result)) else result
