"""One scan run from claim to payload, and the work loop that claims, scans and posts.

``scan(run, …)`` turns a claimed run into the results payload: crawl, checks,
artifacts, or a ``failed`` payload naming why the site could not be scanned
(``DNS_FAILURE``, ``CONNECTION_REFUSED``, ``TLS_ERROR``, ``TIMEOUT``,
``SCAN_BUDGET_EXCEEDED``, ``BLOCKED_DESTINATION``, …, with ``url`` and ``timeoutMs``).
``Runtime.work()`` is the long-running loop: claim as many runs as it has free
slots, heartbeat each while it is scanned, post the payload with one
``Idempotency-Key`` per run and attempt (retried as webriskops/docs/scanner/errors.md advises),
and drop a run whose lease was lost without posting anything for it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from webriskops import scanner_client as client
from webriskops.scanner.artifacts import (
    checked_address,
    chromium_available,
    page_prefix,
    take_screenshot,
    upload_page,
)
from webriskops.scanner.checks import PROBE_PATHS, Finding, run_checks
from webriskops.scanner.crawler import Cancelled, Crawl, Page, crawl
from webriskops.scanner.fetch import Fetcher, FetchError, origin_of
from webriskops.scanner.settings import ScannerSettings
from webriskops.storage import ObjectStorage, create_storage
from webriskops.webhooks.ssrf import BlockedDestination, check_url

log = logging.getLogger(__name__)

# Time kept back from the run's deadline for uploading and posting the result.
POSTBACK_MARGIN = 60.0
# Share of the budget the crawl may use; the rest is for screenshots and uploads.
CRAWL_SHARE = 0.8
MAX_HEADERS = 200
# Far below the contract's 5000 per page: a page with thousands of findings is one problem.
MAX_ISSUES_PER_PAGE = 500
# Rounds of ``post_results`` (each up to 6 attempts) before a result is given up.
POST_ROUNDS = 3

_PAGE_TYPES = (
    ("password_reset", r"(forgot|reset|lost)[-_]?password|password[-_]?(reset|forgot)"),
    ("signup", r"sign[-_]?up|register|join"),
    ("login", r"log[-_]?in|sign[-_]?in"),
    ("checkout", r"checkout"),
    ("cart", r"cart|basket"),
    ("account", r"account|profile|settings|dashboard"),
    ("pricing", r"pricing|plans"),
    ("contact", r"contact"),
    ("legal", r"privacy|terms|legal|imprint|cookie-policy|gdpr"),
    ("search", r"search"),
    ("product", r"products?/|item/"),
    ("category", r"categor|collections?|shop|store"),
)


def _failed(run_id: int, error: FetchError | None = None, **fields: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if error is not None:
        details = {"code": error.code, "message": error.message[:2000] or error.code}
        if error.url and error.url.startswith(("http://", "https://")) and len(error.url) <= 2048:
            details["url"] = error.url
        if error.timeout_ms is not None:
            details["timeoutMs"] = max(0, min(error.timeout_ms, 86_400_000))
    details.update(fields)
    return {"scanRunId": run_id, "status": "failed", "error": details}


def _without_nul(value: Any) -> Any:
    """The payload with NUL characters replaced: the API refuses them (PostgreSQL cannot
    store them), and one in a page title must not cost the whole result."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def page_type(page: Page, home: str) -> str:
    """The contract's ``pageType`` for a page, from its status, address and forms."""
    if page.response.status >= 400:
        return "error"
    if page.final_url == home or page.url == home:
        return "home"
    path = urlsplit(page.final_url).path.lower()
    for name, pattern in _PAGE_TYPES:
        if re.search(pattern, path):
            return name
    if page.document and any(form.has_password for form in page.document.forms):
        return "login"
    return "content" if page.is_html else "other"


def _headers(page: Page) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in page.response.headers:
        name = name.lower()[:256]
        if name in merged:
            merged[name] = (
                f"{merged[name]}\n{value}" if name == "set-cookie" else f"{merged[name]}, {value}"
            )
        elif len(merged) < MAX_HEADERS:
            merged[name] = value
    return {name: value[:8192] for name, value in merged.items()}


def _deadline_seconds(run: dict[str, Any], settings: ScannerSettings) -> float:
    """Seconds this run may take: the configured budget, ended well before its deadline."""
    budget = settings.time_budget_seconds
    deadline = run.get("deadlineAt")
    if deadline:
        try:
            moment = datetime.fromisoformat(str(deadline).replace("Z", "+00:00"))
        except ValueError:
            return budget
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        budget = min(budget, (moment - datetime.now(UTC)).total_seconds() - POSTBACK_MARGIN)
    return budget


@dataclass
class ScanResult:
    """A run's payload, and what went into it (for logs and tests)."""

    payload: dict[str, Any]
    crawl: Crawl | None = None
    findings: dict[str, list[Finding]] = field(default_factory=dict)


def scan(
    run: dict[str, Any],
    settings: ScannerSettings,
    storage: ObjectStorage,
    *,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ScanResult:
    """Scan one claimed run; raises ``Cancelled`` when ``cancel`` is set meanwhile."""
    cancel = cancel or threading.Event()
    run_id = int(run["scanRunId"])
    base_url = str(run["baseUrl"])
    prefix = str(run.get("artifactPrefix") or f"scan-runs/{run_id}/")
    budget = _deadline_seconds(run, settings)
    if budget <= 0:
        return ScanResult(
            _failed(
                run_id,
                FetchError(
                    "SCAN_BUDGET_EXCEEDED",
                    "the run's deadline leaves no time to scan",
                    base_url,
                    0,
                ),
            )
        )
    try:
        check_url(base_url, allow_private=settings.allow_private)
    except BlockedDestination as error:
        return ScanResult(_failed(run_id, FetchError("BLOCKED_DESTINATION", str(error), base_url)))
    started = clock()
    crawl_settings = replace(settings, time_budget_seconds=budget)  # timeoutMs names it
    fetcher = Fetcher(
        origin_of(base_url), crawl_settings, started + budget * CRAWL_SHARE, clock=clock
    )
    try:
        site = crawl(base_url, fetcher, crawl_settings, probe_paths=PROBE_PATHS, cancel=cancel)
    except FetchError as error:
        log.info("scan run %s failed: %s", run_id, error.code)
        if error.code == "SCAN_BUDGET_EXCEEDED":
            error.timeout_ms = int(budget * 1000)
        return ScanResult(_failed(run_id, error))
    finally:
        fetcher.close()
    findings = run_checks(site, settings)
    # HTML pages and error answers; the home page always, since site-wide findings sit on it.
    pages = [
        p
        for p in site.pages
        if p.response and (p is site.pages[0] or p.is_html or p.response.status >= 400)
    ]
    pages = pages[: settings.max_pages]
    home = site.pages[0].final_url
    in_payload = {page.final_url for page in pages}
    homeless = [f for url, found in findings.items() if url not in in_payload for f in found]

    screenshots: dict[int, bytes | None] = {}
    if chromium_available(settings):
        address = checked_address(site.origin + "/", settings.allow_private)
        wanted = [i for i, page in enumerate(pages) if page.is_html][: settings.max_screenshots]
        end = started + budget

        def shoot(index: int) -> tuple[int, bytes | None]:
            if cancel.is_set() or clock() + settings.screenshot_timeout > end:
                return index, None  # no time left: the page keeps the placeholder
            return index, take_screenshot(pages[index].final_url, address, settings)

        with ThreadPoolExecutor(2, thread_name_prefix="screenshot") as pool:
            screenshots = dict(pool.map(shoot, wanted))
    if cancel.is_set():
        raise Cancelled()

    entries = []
    for index, page in enumerate(pages):
        found = findings.get(page.final_url, []) + (homeless if page.final_url == home else [])
        issues, seen = [], set()
        for finding in found:
            if finding.fingerprint not in seen and len(issues) < MAX_ISSUES_PER_PAGE:
                seen.add(finding.fingerprint)
                issues.append(finding.as_issue())
        response = page.response
        try:
            artifacts = upload_page(
                storage,
                page_prefix(prefix, index, page.final_url),
                response.body if page.is_html else None,
                screenshots.get(index),
            )
        except Exception as error:  # noqa: BLE001 - any storage failure ends the run the same way
            log.error("scan run %s: artifact upload failed: %s", run_id, type(error).__name__)
            message = f"uploading artifacts failed ({type(error).__name__})"
            return ScanResult(_failed(run_id, code="ARTIFACT_UPLOAD_FAILED", message=message))
        entry: dict[str, Any] = {
            "page": {
                "url": response.url[:2048],
                "normalizedUrl": page.final_url[:2048],
                "statusCode": response.status,
                "pageType": page_type(page, home),
                "responseHeaders": _headers(page),
                "loadTimeMs": response.elapsed_ms,
            },
            "artifacts": artifacts,
            "issues": issues,
        }
        if page.document and page.document.title:
            entry["page"]["title"] = page.document.title[:500]
        entries.append(entry)
    log.info(
        "scan run %s: %d pages, %d requests, %d findings",
        run_id,
        len(entries),
        site.requests,
        sum(len(entry["issues"]) for entry in entries),
    )
    payload = {
        "scanRunId": run_id,
        "status": "completed",
        "pages": _without_nul(entries),
        # Unknown fields are ignored by WebRiskOps; operators read them in the logs.
        "scanner": {"requests": site.requests, "robotsDisallowed": len(site.robots_disallowed)},
    }
    return ScanResult(payload, site, findings)


class Runtime:
    """The work loop: claim, scan with heartbeats, post; ``stop`` ends it."""

    def __init__(
        self,
        settings: ScannerSettings,
        storage: ObjectStorage | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        if not settings.api_url.startswith(("http://", "https://")):
            raise ValueError("the WebRiskOps API URL must start with http:// or https://")
        if not settings.secret:
            raise ValueError("WRO_SCANNER_SHARED_SECRET is not set")
        self.settings = settings
        self.storage = storage or create_storage(settings.storage)
        self.stop = stop or threading.Event()
        self.outcomes: list[tuple[int, str]] = []  # (run id, posted status or "dropped")
        self._lock = threading.Lock()
        self._cancels: dict[int, threading.Event] = {}

    def work(self, *, once: bool = False) -> int:
        """Run until stopped (or, with ``once``, until the queue is empty); exit status."""
        settings = self.settings
        failures = 0
        active: dict[Future, int] = {}
        drained = False
        with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="scan-run") as pool:
            while not self.stop.is_set():
                free = settings.concurrency - len(active)
                claimed: list[dict[str, Any]] = []
                if free and not drained:
                    try:
                        claimed = client.claim_runs(
                            settings.api_url,
                            settings.secret,
                            max=free,
                            lease_seconds=settings.lease_seconds,
                        )
                        failures = 0
                    except client.ScannerApiError as error:
                        if error.status == 401:
                            log.error("the API refused the scanner secret (401); stopping")
                            self._cancel_all()
                            return client.UNAUTHORIZED
                        failures += 1
                        wait_for = max(client.backoff(failures), error.retry_after or 0.0)
                        log.warning("claim failed (%s); retrying in %.1f s", error.code, wait_for)
                        if once and failures >= 6:
                            self._cancel_all()
                            return client.GAVE_UP
                        self.stop.wait(wait_for)
                        continue
                    if once and not claimed:
                        drained = True  # --once: what was queued at the start is claimed
                for run in claimed:
                    active[pool.submit(self.process, run)] = int(run["scanRunId"])
                if once and drained and not active:
                    break
                if active:
                    # Claim again at once while slots are free and the queue is not empty;
                    # otherwise wake when a run ends, or after a poll to notice ``stop``.
                    more = claimed and len(active) < settings.concurrency
                    timeout = 0 if more else settings.poll_seconds
                    done, _ = wait(list(active), timeout=timeout, return_when=FIRST_COMPLETED)
                    for future in done:
                        run_id = active.pop(future)
                        if future.exception() is not None:
                            log.error("scan run %s: %r", run_id, future.exception())
                elif not claimed:
                    self.stop.wait(settings.poll_seconds)
            self._cancel_all()
        return client.ACCEPTED

    def _cancel_all(self) -> None:
        with self._lock:
            for event in self._cancels.values():
                event.set()

    def process(self, run: dict[str, Any]) -> None:
        """Scan one claimed run under its lease and post the result."""
        run_id = int(run["scanRunId"])
        interval = self.settings.heartbeat_seconds or self.settings.lease_seconds / 3
        log.info("scan run %s claimed (attempt %s)", run_id, run.get("attempt"))
        with client.LeaseKeeper(
            self.settings.api_url, self.settings.secret, run_id, interval
        ) as lease:
            cancel = lease.lost
            with self._lock:
                self._cancels[run_id] = cancel
            try:
                if self.stop.is_set():
                    cancel.set()
                try:
                    payload = scan(run, self.settings, self.storage, cancel=cancel).payload
                except Cancelled:
                    payload = None
                except Exception as error:  # noqa: BLE001 - a bug must not leave the run hanging
                    log.exception("scan run %s: the scanner failed", run_id)
                    payload = _failed(
                        run_id, code="SCANNER_ERROR", message=f"{type(error).__name__}"[:2000]
                    )
                if payload is None or cancel.is_set():
                    # The lease is gone (requeued, cancelled or finished) or we are
                    # stopping: posting now could race the run's next scanner.
                    log.info("scan run %s dropped: lease lost or stopping", run_id)
                    self._record(run_id, "dropped")
                    return
                self._post(run, payload)
            finally:
                with self._lock:
                    self._cancels.pop(run_id, None)

    def _post(self, run: dict[str, Any], payload: dict[str, Any]) -> None:
        run_id = int(run["scanRunId"])
        body = json.dumps(payload).encode()
        key = client.idempotency_key_for(run)
        for round_ in range(POST_ROUNDS):
            outcome = client.post_results(
                self.settings.api_url, body, self.settings.secret, idempotency_key=key
            )
            if outcome.exit_code == client.ACCEPTED:
                log.info("scan run %s posted as %s", run_id, payload["status"])
                self._record(run_id, payload["status"])
                return
            if outcome.exit_code != client.GAVE_UP:
                error = (outcome.body or {}).get("error") or {}
                log.error(
                    "scan run %s: the result was refused (%s %s)",
                    run_id,
                    outcome.status,
                    error.get("code"),
                )
                self._record(run_id, f"refused:{outcome.status}")
                if outcome.exit_code == client.INVALID and payload["status"] == "completed":
                    # A result the API will never take: fail the run now (its credit comes
                    # back) instead of leaving it to time out attempt after attempt.
                    fields = ", ".join(sorted(error.get("fields") or {}))[:1500]
                    message = (
                        f"WebRiskOps refused the result ({outcome.status} {error.get('code')})"
                    )
                    failed = _failed(
                        run_id,
                        code="RESULT_REFUSED",
                        message=message + (f": {fields}" if fields else ""),
                    )
                    self._post({**run, "attempt": f"{run.get('attempt')}-refused"}, failed)
                return
            log.warning("scan run %s: posting gave up (round %d); trying again", run_id, round_ + 1)
            if self.stop.wait(client.BACKOFF_CAP):
                break
        self._record(run_id, "unposted")

    def _record(self, run_id: int, outcome: str) -> None:
        with self._lock:
            self.outcomes.append((run_id, outcome))
