"""Every lookup on a hot or growing table has an index that PostgreSQL can use.

Each query below is the shape of one the code issues (the comment names where). The
test tables are nearly empty, where the planner rightly prefers a sequential scan, so
sequential scans are switched off: a query on a table with no usable index still gets
one (at a prohibitive cost) and fails the test, which is what shows a missing index.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from webriskops.extensions import db
from webriskops.ingest import service
from webriskops.models import ScanRun
from webriskops.reports import summary

LOOKUPS = {
    # ingest.service: the run lock of every postback.
    "lock run": (service._LOCK_RUN, {"scan_run_id": 1}),
    # scans.services: a claim takes the oldest queued runs; the sweep finds overdue ones.
    "queued runs to claim": (
        "SELECT id FROM scan_runs WHERE status = 'queued' AND created_at > now() - interval "
        "'1 hour' ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED",
        {},
    ),
    "overdue runs to sweep": (
        "SELECT id FROM scan_runs WHERE (status = 'running' AND lease_expires_at <= now()) "
        "OR (status IN ('queued', 'running') AND created_at <= now() - interval '1 hour') "
        "ORDER BY id LIMIT 200",
        {},
    ),
    # ingest.idempotency: claim and replay.
    "idempotency key": ("SELECT * FROM idempotency_keys WHERE key = 'k'", {}),
    "expired idempotency keys": (
        "DELETE FROM idempotency_keys WHERE expires_at < now()",
        {},
    ),
    # jobs.outbox.sweep and _lost_jobs.
    "due outbox jobs": (
        "SELECT id FROM outbox_jobs WHERE state = 'pending' AND available_at <= now() "
        "ORDER BY id LIMIT 500",
        {},
    ),
    "enqueued outbox jobs": (
        "SELECT id, enqueued_at FROM outbox_jobs WHERE state = 'enqueued' ORDER BY id LIMIT 500",
        {},
    ),
    # reports: a project's runs, newest first, and the previous completed run.
    "runs of a project": (
        "SELECT * FROM scan_runs WHERE project_id = 1 ORDER BY id DESC LIMIT 20",
        {},
    ),
    "previous completed run": (
        "SELECT id FROM scan_runs WHERE project_id = 1 AND status = 'completed' AND id < 9 "
        "ORDER BY id DESC LIMIT 1",
        {},
    ),
    # reports.summary: a report's issues and its previous completed run's, in one query.
    "issues of a run and of the previous one": (
        summary.compared_issues_query(ScanRun(id=9, project_id=1)),
        {},
    ),
    # reports and jobs: what a run holds.
    "pages of a run": ("SELECT * FROM scan_pages WHERE scan_run_id = 1 ORDER BY position", {}),
    "issues of a run": ("SELECT * FROM issues WHERE scan_run_id = 1", {}),
    "artifacts of a run": ("SELECT * FROM artifacts WHERE scan_run_id = 1", {}),
    # reports.findings: a run's findings narrowed by severity or category, triage joined
    # per project and fingerprint, and "recurring" looked up in the previous run.
    "findings of a run by severity": (
        "SELECT id FROM issues WHERE scan_run_id = 1 AND severity = 'high' ORDER BY id",
        {},
    ),
    "findings of a run by category": (
        "SELECT id FROM issues WHERE scan_run_id = 1 AND category = 'seo'",
        {},
    ),
    "triage of a fingerprint": (
        "SELECT * FROM triage_states WHERE project_id = 1 AND fingerprint = 'fp-00000001'",
        {},
    ),
    "findings with their triage": (
        "SELECT issues.id, triage_states.state FROM issues LEFT OUTER JOIN triage_states "
        "ON triage_states.project_id = 1 AND triage_states.fingerprint = issues.fingerprint "
        "WHERE issues.scan_run_id = 1 AND triage_states.state = 'false_positive'",
        {},
    ),
    "fingerprint in the previous run": (
        "SELECT 1 FROM issues WHERE scan_run_id = 1 AND fingerprint = 'fp-00000001'",
        {},
    ),
    "occurrences of an issue": ("SELECT * FROM issue_occurrences WHERE issue_id = 1", {}),
    "occurrences on a page": ("SELECT * FROM issue_occurrences WHERE scan_page_id = 1", {}),
    # auth: a user's organizations, tokens by hash, users by email.
    "memberships of a user": ("SELECT * FROM memberships WHERE user_id = 1", {}),
    "token by hash": ("SELECT * FROM api_tokens WHERE token_hash = 'h'", {}),
    "user by email": ("SELECT * FROM users WHERE email = 'a@example.com'", {}),
    "projects of an organization": ("SELECT * FROM projects WHERE organization_id = 1", {}),
    # webhooks: endpoints of an organization, deliveries of a run, attempts of a delivery.
    "endpoints of an organization": (
        "SELECT * FROM webhook_endpoints WHERE organization_id = 1",
        {},
    ),
    "deliveries of a run": (
        "SELECT endpoint_id FROM webhook_deliveries WHERE scan_run_id = 1 "
        "AND event_type = 'scan_run.completed'",
        {},
    ),
    "attempts of a delivery": ("SELECT * FROM webhook_attempts WHERE delivery_id = 1", {}),
    "deliveries of an endpoint": (
        "SELECT * FROM webhook_deliveries WHERE endpoint_id = 1 ORDER BY id DESC LIMIT 50",
        {},
    ),
    # settings: invitation links by digest, an organization's invitations, a user's tokens.
    "invitation by hash": ("SELECT * FROM invitations WHERE token_hash = 'h'", {}),
    "invitations of an organization": (
        "SELECT * FROM invitations WHERE organization_id = 1",
        {},
    ),
    "tokens of a user": ("SELECT * FROM api_tokens WHERE user_id = 1", {}),
    # credits: the ledger of an organization and a run's settlement (unique).
    "ledger of an organization": ("SELECT * FROM credit_ledger WHERE organization_id = 1", {}),
    "settlement of a run": ("SELECT * FROM credit_ledger WHERE settles_run_id = 1", {}),
}


# Lookups run for every finished run, whose index must hold every condition: a scan that
# filters what its index returned walks rows that grow with the table.
EXACT = (
    "previous completed run",
    "issues of a run and of the previous one",
    "lock run",
    "due outbox jobs",
)


def filtered_scans(plan: dict[str, Any]) -> list[str]:
    """The scans of a plan that filter the rows their index gave them."""
    found = [plan.get("Index Name", plan["Node Type"])] if "Filter" in plan else []
    for child in plan.get("Plans", ()):
        found += filtered_scans(child)
    return found


def sequential_scans(plan: dict[str, Any]) -> list[str]:
    """The tables a plan reads with a sequential scan."""
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", ()):
        found += sequential_scans(child)
    return found


def plan_of(name: str) -> dict[str, Any]:
    """The plan PostgreSQL picks for a lookup with sequential scans switched off."""
    statement, params = LOOKUPS[name]
    if not isinstance(statement, str):
        bound = statement.params(**params)
        statement = str(bound.compile(db.engine, compile_kwargs={"literal_binds": True}))
    connection = db.session.connection()
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    (plan,) = connection.execute(text(f"EXPLAIN (FORMAT JSON) {statement}")).scalar_one()
    db.session.rollback()
    return plan["Plan"]


@pytest.mark.parametrize("name", LOOKUPS)
def test_the_lookup_uses_an_index(app, name):
    plan = plan_of(name)
    assert sequential_scans(plan) == [], f"{name}: {plan}"


@pytest.mark.parametrize("name", EXACT)
def test_the_index_holds_every_condition(app, name):
    plan = plan_of(name)
    assert filtered_scans(plan) == [], f"{name}: {plan}"


def test_a_missing_index_is_caught(app):
    connection = db.session.connection()
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    (plan,) = connection.execute(
        text("EXPLAIN (FORMAT JSON) SELECT * FROM scan_runs WHERE error_code = 'X'")
    ).scalar_one()
    db.session.rollback()
    assert sequential_scans(plan["Plan"]) == ["scan_runs"]
