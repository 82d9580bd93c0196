"""The reference scanner-side client: post a results file the way the docs recommend.

gzip the body, one ``Idempotency-Key`` per postback reused across its retries, retry
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
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import click

from webriskops.vocabulary import parse_retry_after as retry_after_seconds

ACCEPTED, INVALID, UNAUTHORIZED, GAVE_UP, USAGE = 0, 2, 3, 4, 5
RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
ENDPOINT = "/api/scanner/results"


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


def main() -> None:
    """Console script ``webriskops-scanner``."""
    scanner()
