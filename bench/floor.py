"""The floors: the least any implementation of a postback must do, without a framework.

- ``app`` is the floor of the single-page benchmark: a bare WSGI function that reads the
  body, parses it with orjson and answers 202 with a fixed JSON body. Served by the same
  gunicorn with the same flags as the app, it measures the server and the parse alone.
- ``store`` is the floor of the large-postback benchmark: parse the same JSON and write
  the same rows (``scan_pages``, ``artifacts``, ``issues``, ``issue_occurrences``, the
  same columns the app fills) with ``COPY`` in one transaction, then mark the run
  completed. It assumes what the benchmark's payloads guarantee (distinct fingerprints
  and artifact paths), so it skips the de-duplication, validation and redaction the app
  must do.

``python -m bench.floor PAYLOAD_FILE SCAN_RUN_ID`` runs ``store`` in a fresh process and
prints one JSON line with its time and its peak RSS growth, so memory is measured the
same way as for a fresh gunicorn worker.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

ANSWER = b'{"scanRunId":0,"status":"completed","duplicate":false}'
ANSWER_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))]

PAGE_COLUMNS = (
    "id", "scan_run_id", "position", "url", "normalized_url", "status_code", "page_type",
    "response_headers", "title", "console_errors_count", "network_errors_count",
    "load_time_ms", "screenshot_path", "html_snapshot_path",
)  # fmt: skip
ARTIFACT_COLUMNS = ("scan_run_id", "scan_page_id", "kind", "storage_key")
ISSUE_COLUMNS = (
    "id", "scan_run_id", "fingerprint", "category", "type", "severity", "title",
    "description", "confidence", "evidence", "business_impact", "suggested_remediation",
    "reproduction_steps", "screenshot_path",
)  # fmt: skip
OCCURRENCE_COLUMNS = ("issue_id", "scan_page_id")


def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    """A bare WSGI endpoint doing only what any JSON endpoint must: read, parse, answer."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    orjson.loads(environ["wsgi.input"].read(length))
    start_response("202 Accepted", ANSWER_HEADERS)
    return [ANSWER]


def _ids(cursor: psycopg.Cursor, table: str, count: int) -> list[int]:
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        (table, count),
    )
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor: psycopg.Cursor, table: str, columns: tuple[str, ...], rows: Iterable) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def store(connection: psycopg.Connection, body: bytes, run_id: int) -> int:
    """Parse ``body`` and write its rows for ``run_id`` in one transaction; return the issues."""
    data = orjson.loads(body)
    entries = data.get("pages", [data])
    with connection.transaction(), connection.cursor() as cursor:
        page_ids = _ids(cursor, "scan_pages", len(entries))
        pairs = [
            (page_id, issue)
            for page_id, entry in zip(page_ids, entries, strict=True)
            for issue in entry["issues"]
        ]
        issue_ids = _ids(cursor, "issues", len(pairs))
        _copy(
            cursor,
            "scan_pages",
            PAGE_COLUMNS,
            (
                (
                    page_id,
                    run_id,
                    position,
                    page["url"],
                    page["normalizedUrl"],
                    page["statusCode"],
                    page["pageType"],
                    Jsonb(page["responseHeaders"]),
                    page.get("title"),
                    page.get("consoleErrorsCount"),
                    page.get("networkErrorsCount"),
                    page.get("loadTimeMs"),
                    entry["artifacts"]["screenshotPath"],
                    entry["artifacts"].get("htmlSnapshotPath"),
                )  # fmt: skip
                for position, (page_id, entry) in enumerate(zip(page_ids, entries, strict=True))
                for page in (entry["page"],)
            ),
        )
        _copy(cursor, "artifacts", ARTIFACT_COLUMNS, _artifact_rows(run_id, page_ids, entries))
        _copy(
            cursor,
            "issues",
            ISSUE_COLUMNS,
            (
                (
                    issue_id,
                    run_id,
                    issue["fingerprint"],
                    issue["category"],
                    issue["type"],
                    issue["severity"],
                    issue["title"],
                    issue["description"],
                    issue["confidence"],
                    issue["evidence"],
                    issue.get("businessImpact"),
                    issue.get("suggestedRemediation"),
                    Jsonb(steps) if (steps := issue.get("reproductionSteps")) is not None else None,
                    issue.get("screenshotPath"),
                )  # fmt: skip
                for issue_id, (_, issue) in zip(issue_ids, pairs, strict=True)
            ),
        )
        _copy(
            cursor,
            "issue_occurrences",
            OCCURRENCE_COLUMNS,
            ((issue_id, page_id) for issue_id, (page_id, _) in zip(issue_ids, pairs, strict=True)),
        )
        cursor.execute(
            "UPDATE scan_runs SET status = 'completed', credit_state = 'consumed', "
            "pages_scanned = %s, issues_count = %s, finished_at = now(), updated_at = now() "
            "WHERE id = %s",
            (len(entries), len(pairs), run_id),
        )
    return len(pairs)


def _artifact_rows(run_id: int, page_ids: list[int], entries: list[dict]) -> Iterable[tuple]:
    for page_id, entry in zip(page_ids, entries, strict=True):
        artifacts = entry["artifacts"]
        yield run_id, page_id, "screenshot", artifacts["screenshotPath"]
        if "htmlSnapshotPath" in artifacts:
            yield run_id, page_id, "html_snapshot", artifacts["htmlSnapshotPath"]
        for issue in entry["issues"]:
            if "screenshotPath" in issue:
                yield run_id, page_id, "issue_screenshot", issue["screenshotPath"]


def proc_status_kb(pid: int | str, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def main(argv: list[str]) -> None:
    """Measure ``store`` once in this (fresh) process and print the figures as JSON."""
    from bench import PG_URL

    path, run_id = argv
    with psycopg.connect(PG_URL) as connection:
        rss_before = proc_status_kb("self", "VmRSS")
        body = Path(path).read_bytes()
        started, cpu = time.perf_counter(), time.process_time()
        issues = store(connection, body, int(run_id))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    figures = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "issues": issues,
        "rss_before_kb": rss_before,
        "hwm_kb": proc_status_kb("self", "VmHWM"),
    }
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
