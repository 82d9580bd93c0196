"""The reference scanner-side client: claim runs, keep their leases, post results.

Dispatch (API.md 3.9): ``claim_runs`` asks for queued runs and takes a lease on each,
``heartbeat`` extends a lease (``LeaseLost`` when the run is no longer ours), and
``work_claimed_runs`` / ``work_until_idle`` tie it together for a scanner runtime:
claim, heartbeat in a background thread while the runtime's own ``scan`` function
works, then post the result with an ``Idempotency-Key`` per run and attempt.

Posting: gzip the body, one ``Idempotency-Key`` per postback reused across its retries, retry
only what can succeed unchanged (network errors, 409, 429, 5xx) with exponential backoff
and full jitter, never sooner than ``Retry-After``, and exit with a status that says
what to do next. Standard library only, no Flask: a scanner runtime can vendor it.

Exit statuses: 0 accepted, 2 refused as invalid (fix the payload), 3 authentication
failed (fix the secret), 4 gave up after retrying (post again later), 5 usage error
(including click's own, which would otherwise exit 2 and read as "invalid").
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click

from webriskops.vocabulary import parse_retry_after as retry_after_seconds

ACCEPTED, INVALID, UNAUTHORIZED, GAVE_UP, USAGE = 0, 2, 3, 4, 5
RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
ENDPOINT = "/api/scanner/results"
CLAIM_ENDPOINT = "/api/scanner/runs/claim"
HEARTBEAT_ENDPOINT = "/api/scanner/runs/{run_id}/heartbeat"


@dataclass
class Outcome:
    """What happened to a postback."""

    exit_code: int
    status: int | None
    body: dict
    attempts: int
    waits: list[float] = field(default_factory=list)
    idempotency_key: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect instead of following it: urllib would turn the POST into a GET."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        """Never build the follow-up request, so urllib raises the 3xx as an HTTPError."""
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def backoff(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: a random wait between 0 and ``min(cap, base * 2**attempt)``."""
    return rng() * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)


def post_results(
    base_url: str,
    body: bytes,
    secret: str,
    *,
    max_attempts: int = 6,
    timeout: float = 30.0,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Post one result, retrying transient failures with the same ``Idempotency-Key``."""
    # Looked up per call, not bound as defaults, so tests can replace time.sleep.
    sleep = sleep or time.sleep
    rng = rng or random.random
    key = idempotency_key or f"scanner-{uuid.uuid4()}"
    compressed = gzip.compress(body)
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "X-Scanner-Secret": secret,
        "Idempotency-Key": key,
    }
    if not base_url.startswith(("http://", "https://")):
        raise ValueError("the WebRiskOps URL must start with http:// or https://")
    url = base_url.rstrip("/") + ENDPOINT
    waits: list[float] = []
    status, answer, retry_after = None, {}, None
    for attempt in range(max_attempts):
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url, data=compressed, headers=headers, method="POST"
        )
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                status, answer, retry_after = response.status, _json(response.read()), None
        except urllib.error.HTTPError as error:
            status, answer = error.code, _json(error.read())
            retry_after = retry_after_seconds(error.headers.get("Retry-After"))
        except (http.client.HTTPException, OSError) as error:
            # URLError, timeouts, resets and truncated answers: the request may or may
            # not have landed, which is exactly what the idempotency key is for.
            status, retry_after = None, None
            answer = {"error": {"code": "NETWORK", "message": f"{type(error).__name__}: {error}"}}
        tried = attempt + 1
        if status == 202:
            return Outcome(ACCEPTED, status, answer, tried, waits, key)
        if status == 401:
            return Outcome(UNAUTHORIZED, status, answer, tried, waits, key)
        if status is not None and status not in RETRYABLE:
            return Outcome(INVALID, status, answer, tried, waits, key)
        if tried < max_attempts:
            wait = max(backoff(attempt, rng), retry_after or 0.0)
            waits.append(wait)
            sleep(wait)
    return Outcome(GAVE_UP, status, answer, max_attempts, waits, key)


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"error": {"code": "NOT_JSON", "message": raw[:200].decode("utf-8", "replace")}}
    return value if isinstance(value, dict) else {"value": value}


# --- Dispatch: claim, heartbeat, and the loop a runtime builds on (API.md 3.9) ----------


class ScannerApiError(Exception):
    """A dispatch call that did not succeed: the HTTP status (None: no answer) and error code."""

    def __init__(self, status: int | None, body: dict, retry_after: float | None = None) -> None:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        self.status = status
        self.code: str = error.get("code", "UNKNOWN")
        self.body = body
        self.retry_after = retry_after
        super().__init__(f"{status or 'no answer'} {self.code}: {error.get('message', '')}")

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed later: no answer, 429 or 5xx."""
        return self.status is None or self.status in RETRYABLE - {409}


class LeaseLost(ScannerApiError):
    """409 ``LEASE_LOST``: the run was requeued or finished; stop working on it."""


def _check_url(api_url: str) -> str:
    if not api_url.startswith(("http://", "https://")):
        raise ValueError("the WebRiskOps URL must start with http:// or https://")
    return api_url.rstrip("/")


def _call(api_url: str, path: str, secret: str, payload: dict, timeout: float) -> dict:
    """POST ``payload`` as JSON to a dispatch endpoint; the 200 body, or ScannerApiError."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by _check_url
        _check_url(api_url) + path,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "X-Scanner-Secret": secret},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return _json(response.read())
    except urllib.error.HTTPError as error:
        body = _json(error.read())
        retry_after = retry_after_seconds(error.headers.get("Retry-After"))
        if error.code == 409 and body.get("error", {}).get("code") == "LEASE_LOST":
            raise LeaseLost(error.code, body, retry_after) from None
        raise ScannerApiError(error.code, body, retry_after) from None
    except (http.client.HTTPException, OSError) as error:
        message = f"{type(error).__name__}: {error}"
        raise ScannerApiError(None, {"error": {"code": "NETWORK", "message": message}}) from None


def claim_runs(
    api_url: str, secret: str, max: int = 1, lease_seconds: int = 300, *, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Claim up to ``max`` queued runs, oldest first, each leased for ``lease_seconds``.

    Each run is a dict with ``scanRunId``, ``projectId``, ``baseUrl``, ``attempt``,
    ``leaseExpiresAt``, ``deadlineAt`` and ``artifactPrefix``; ``[]`` when none is
    queued. Raises ``ScannerApiError`` (``.status``, ``.code``, ``.retryable``).
    """
    body = _call(
        api_url, CLAIM_ENDPOINT, secret, {"max": max, "leaseSeconds": lease_seconds}, timeout
    )
    return list(body.get("runs", []))


def heartbeat(api_url: str, secret: str, run_id: int, *, timeout: float = 30.0) -> str:
    """Extend the lease of a claimed run; returns the new ``leaseExpiresAt``.

    Raises ``LeaseLost`` when the run is no longer this scanner's (stop and drop the
    work: it was requeued or finished) and ``ScannerApiError`` otherwise.
    """
    path = HEARTBEAT_ENDPOINT.format(run_id=int(run_id))
    return str(_call(api_url, path, secret, {}, timeout)["leaseExpiresAt"])


class LeaseKeeper:
    """Heartbeats one run from a background thread while the runtime works on it.

    ``lost`` is set when the server answers ``LEASE_LOST``; transient errors are
    retried at the next beat (the lease outlives a few missed ones).
    """

    def __init__(self, api_url: str, secret: str, run_id: int, interval: float) -> None:
        self.api_url, self.secret, self.run_id, self.interval = api_url, secret, run_id, interval
        self.lost = threading.Event()
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                heartbeat(self.api_url, self.secret, self.run_id)
                self.beats += 1
            except LeaseLost:
                self.lost.set()
                return
            except ScannerApiError:
                continue


def idempotency_key_for(run: dict[str, Any]) -> str:
    """The ``Idempotency-Key`` of a run's result: one per run and attempt."""
    return f"run-{run['scanRunId']}-attempt-{run['attempt']}"


def work_claimed_runs(
    api_url: str,
    secret: str,
    scan: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    max: int = 1,
    lease_seconds: int = 300,
    heartbeat_interval: float | None = None,
    max_attempts: int = 6,
) -> list[Outcome]:
    """Claim up to ``max`` runs and work each: ``scan(run)`` returns the results payload.

    While ``scan`` runs, a ``LeaseKeeper`` heartbeats every ``heartbeat_interval``
    seconds (default a third of the lease). The payload is posted with
    ``post_results`` and ``idempotency_key_for(run)``; a ``scan`` that raises posts a
    failed result (``SCANNER_ERROR``) so the run and its credit never hang. Returns one
    ``Outcome`` per claimed run.
    """
    interval = heartbeat_interval or lease_seconds / 3
    outcomes = []
    for run in claim_runs(api_url, secret, max=max, lease_seconds=lease_seconds):
        with LeaseKeeper(api_url, secret, run["scanRunId"], interval):
            try:
                payload = scan(run)
            except Exception as error:  # noqa: BLE001 - any scanner bug ends the run as failed
                payload = {
                    "scanRunId": run["scanRunId"],
                    "status": "failed",
                    "error": {
                        "code": "SCANNER_ERROR",
                        "message": f"{type(error).__name__}: {error}"[:2000] or "error",
                    },
                }
        outcomes.append(
            post_results(
                api_url,
                json.dumps(payload).encode(),
                secret,
                max_attempts=max_attempts,
                idempotency_key=idempotency_key_for(run),
            )
        )
    return outcomes


def work_until_idle(
    api_url: str,
    secret: str,
    scan: Callable[[dict[str, Any]], dict[str, Any]],
    **options: Any,
) -> list[Outcome]:
    """Call ``work_claimed_runs`` until a claim comes back empty; returns every outcome."""
    outcomes: list[Outcome] = []
    while batch := work_claimed_runs(api_url, secret, scan, **options):
        outcomes.extend(batch)
    return outcomes


def _usage(message: str) -> NoReturn:
    click.echo(json.dumps({"error": {"code": "USAGE", "message": message}}))
    sys.exit(USAGE)


class _PostCommand(click.Command):
    """``post`` with click's usage errors answered as JSON and exit status ``USAGE``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does; a bad invocation exits ``USAGE``, not click's 2 (INVALID)."""
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            _usage(error.format_message())
            raise  # pragma: no cover - _usage exits


@click.group("scanner", help="Scanner-side tools.")
def scanner() -> None:
    """Scanner-side tools."""


@scanner.command("post", cls=_PostCommand)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", required=True, help="WebRiskOps base URL, e.g. https://wro.example.com")
@click.option("--secret-env", default="WRO_SCANNER_SHARED_SECRET", show_default=True,
              help="Environment variable holding the scanner shared secret.")  # fmt: skip
@click.option("--max-attempts", type=click.IntRange(1, 20), default=6, show_default=True)
@click.option("--idempotency-key", default=None, help="Reuse a key from an earlier attempt.")
def post_command(
    file: Path, url: str, secret_env: str, max_attempts: int, idempotency_key: str | None
) -> None:
    """Post a results FILE (JSON) to WebRiskOps; prints the answer's JSON body."""
    secret = os.environ.get(secret_env)
    if not secret:
        _usage(f"{secret_env} is not set")
    try:
        body = file.read_bytes()
    except OSError as error:
        _usage(f"cannot read {file}: {error.strerror}")
    try:
        outcome = post_results(
            url, body, secret, max_attempts=max_attempts, idempotency_key=idempotency_key
        )
    except ValueError as error:
        _usage(str(error))
    click.echo(json.dumps(outcome.body))
    if outcome.exit_code == GAVE_UP:
        # The postback may have landed on an attempt whose answer was lost: posting
        # again later with the same key replays that answer instead of guessing.
        click.echo(
            f"gave up after {outcome.attempts} attempts; post again later with "
            f"--idempotency-key {outcome.idempotency_key}",
            err=True,
        )
    sys.exit(outcome.exit_code)


def _secret(secret_env: str) -> str:
    secret = os.environ.get(secret_env)
    if not secret:
        _usage(f"{secret_env} is not set")
    return secret


def _exit_for(error: ScannerApiError) -> NoReturn:
    """Print the error body and exit with the status ``post`` would use for it."""
    click.echo(json.dumps(error.body))
    if error.status == 401:
        sys.exit(UNAUTHORIZED)
    sys.exit(GAVE_UP if error.retryable else INVALID)


_SECRET_ENV = click.option(
    "--secret-env",
    default="WRO_SCANNER_SHARED_SECRET",
    show_default=True,
    help="Environment variable holding the scanner shared secret.",
)


@scanner.command("claim", cls=_PostCommand)
@click.option("--url", required=True, help="WebRiskOps base URL, e.g. https://wro.example.com")
@_SECRET_ENV
@click.option("--max", "max_", type=click.IntRange(1, 50), default=1, show_default=True)
@click.option("--lease-seconds", type=click.IntRange(30, 3600), default=300, show_default=True)
def claim_command(url: str, secret_env: str, max_: int, lease_seconds: int) -> None:
    """Claim queued runs; prints ``{"runs": [...]}`` (exit 0, also when none is queued)."""
    secret = _secret(secret_env)
    try:
        runs = claim_runs(url, secret, max=max_, lease_seconds=lease_seconds)
    except ValueError as error:
        _usage(str(error))
    except ScannerApiError as error:
        _exit_for(error)
    click.echo(json.dumps({"runs": runs}))


@scanner.command("heartbeat", cls=_PostCommand)
@click.argument("scan_run_id", type=click.IntRange(min=1))
@click.option("--url", required=True, help="WebRiskOps base URL, e.g. https://wro.example.com")
@_SECRET_ENV
def heartbeat_command(scan_run_id: int, url: str, secret_env: str) -> None:
    """Extend a claimed run's lease; prints ``{"leaseExpiresAt": ...}``, exit 2 on LEASE_LOST."""
    secret = _secret(secret_env)
    try:
        expires = heartbeat(url, secret, scan_run_id)
    except ValueError as error:
        _usage(str(error))
    except ScannerApiError as error:
        _exit_for(error)
    click.echo(json.dumps({"leaseExpiresAt": expires}))


def main() -> None:
    """Console script ``webriskops-scanner``."""
    scanner()


def _add_runtime_commands() -> None:
    """``work`` and ``demo-site`` from the scanner runtime, when the package has it.

    Imported at the end, not the top, so this file still works vendored on its own.
    """
    try:
        # Late and optional: this file also works vendored without the runtime package.
        from webriskops.scanner.cli import COMMANDS
    except ImportError:  # pragma: no cover - vendored without the runtime package
        return
    for command in COMMANDS:
        scanner.add_command(command)


_add_runtime_commands()
