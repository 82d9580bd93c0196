"""What finishing a completed run costs the database, counted statement by statement.

The work after a postback runs once per scan run, so a statement more in it is a
statement more per run at the speed of ingest: these tests count them (runner
included), and say which they are when there are more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from tests import payloads
from tests.jobs.conftest import SECRET_HTML, outbox_rows
from webriskops.extensions import db
from webriskops.jobs import runner
from webriskops.models import Artifact, ScanRun
from webriskops.models.webhooks import WebhookDelivery, WebhookEndpoint
from webriskops.storage import storage


@contextmanager
def counted() -> Iterator[tuple[list[str], list[str]]]:
    """The SQL statements and the commits of every connection of the app, while open."""
    statements: list[str] = []
    commits: list[str] = []

    def statement(_conn, _cursor, text, *_args) -> None:
        statements.append(" ".join(text.split())[:120])

    def commit(_conn) -> None:
        commits.append("COMMIT")

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    try:
        yield statements, commits
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)


def finish_row(run_id: int) -> int:
    """The ``finish_scan_run`` outbox row of a run."""
    (row,) = [
        row.id
        for row in outbox_rows()
        if row.name == "finish_scan_run" and row.args["scan_run_id"] == run_id
    ]
    return row


def post_completed(post, run_id: int) -> None:
    """A single-page postback with five issues, its screenshot and snapshot uploaded."""
    storage().put(f"scan-runs/{run_id}/page-0.png", b"png", "image/png")
    storage().put(f"scan-runs/{run_id}/page-0.html", SECRET_HTML.encode(), "text/html")
    issues = [payloads.issue(n) for n in range(5)]
    assert post(payloads.completed(run_id, issues)).status_code == 202


# The statements of one finished run: the runner's lock and claim (1, committed by
# itself on the lock connection), done mark and unlock (2), the run (1), its endpoints
# (1), both runs' issues (1), the report (1), the snapshot stamps (1) and the keys to
# keep (1); with endpoints, each event's deliveries (1 each) and their outbox rows (1).
@pytest.mark.parametrize(("endpoints", "most"), [(0, 9), (2, 12)])
def test_finishing_a_single_page_run_costs_few_statements(
    app, post, make_project, make_run, endpoints, most
):
    project = make_project()
    for n in range(endpoints):
        url = f"https://hooks.example.com/{n}"
        db.session.add(
            WebhookEndpoint(organization_id=project.organization_id, url=url, secret="whsec_x")
        )
    db.session.commit()
    previous_id = make_run(project).id
    post_completed(post, previous_id)
    assert runner.run(finish_row(previous_id)) == "done"  # the run the next compares with
    run_id = make_run(project).id
    post_completed(post, run_id)
    finish = finish_row(run_id)
    db.session.remove()  # the worker's session starts empty

    with counted() as (statements, commits):
        assert runner.run(finish) == "done"

    listed = "\n".join(statements)
    assert len(statements) <= most, f"{len(statements)} statements:\n{listed}"
    assert len(commits) == 1, listed  # the work with its done mark (the claim autocommits)
    db.session.rollback()
    finished = db.session.get(ScanRun, run_id)
    assert finished.report_status == "ready"
    assert finished.report_summary["previousScanRunId"] == previous_id
    assert finished.report_summary["recurring"] == sorted(
        payloads.issue(n)["fingerprint"] for n in range(5)
    )
    unstamped = select(func.count()).where(
        Artifact.scan_run_id == run_id,
        Artifact.kind == "html_snapshot",
        Artifact.redacted_at.is_(None),
    )
    assert db.session.scalar(unstamped) == 0
    deliveries = select(WebhookDelivery.event_type).where(WebhookDelivery.scan_run_id == run_id)
    assert sorted(db.session.scalars(deliveries)) == sorted(
        ["report.ready", "scan_run.completed"] * endpoints
    )
