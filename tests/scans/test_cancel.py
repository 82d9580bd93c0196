"""Customer cancel (API.md 3.9): the bearer API and the run page's CSRF-protected button."""

from __future__ import annotations

import re

import orjson
import pytest
from sqlalchemy import func, select

from tests import payloads
from tests.scans.conftest import PASSWORD, fresh
from webriskops.auth.tokens import create_token
from webriskops.extensions import db
from webriskops.models import CreditEntry, Organization, OutboxJob
from webriskops.scans.services import claim_runs


@pytest.fixture
def two_orgs(make_org, make_project, make_run, make_user):
    org, other = make_org("Acme", credits=5), make_org("Other", credits=5)
    run = make_run(make_project(org))
    member = make_user(org, "member@acme.test", "member", PASSWORD)
    outsider = make_user(other, "outsider@other.test", "owner", PASSWORD)
    tokens = {"member": create_token(member), "outsider": create_token(outsider)}
    db.session.commit()
    return run, org, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def restores(run_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(CreditEntry)
        .where(CreditEntry.settles_run_id == run_id, CreditEntry.kind == "restore")
    )


@pytest.mark.parametrize("state", ["queued", "running"])
def test_api_cancel_fails_the_run_and_restores_the_credit(app, two_orgs, state):
    run, org, tokens = two_orgs
    if state == "running":
        claim_runs(1, 300)

    response = app.test_client().post(
        f"/api/scan-runs/{run.id}/cancel", headers=bearer(tokens["member"])
    )

    assert response.status_code == 200, response.text
    body = response.get_json()
    assert (body["status"], body["error"]["code"]) == ("failed", "CANCELLED")
    cancelled = fresh(run.id)
    assert (cancelled.credit_state, cancelled.lease_expires_at) == ("restored", None)
    assert restores(run.id) == 1
    org = db.session.get(Organization, org.id, populate_existing=True)
    assert (org.credits, org.reserved_credits) == (5, 0)
    jobs = set(db.session.scalars(select(OutboxJob.name)))
    assert {"finish_scan_run", "collect_artifacts", "automate_failure", "send_webhooks"} <= jobs

    again = app.test_client().post(
        f"/api/scan-runs/{run.id}/cancel", headers=bearer(tokens["member"])
    )
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "RUN_TERMINAL"
    assert restores(run.id) == 1


def test_api_cancel_of_a_completed_run_is_run_terminal(app, two_orgs, scanner_headers):
    run, _, tokens = two_orgs
    client = app.test_client()
    client.post(
        "/api/scanner/results",
        data=orjson.dumps(payloads.completed(run.id)),
        headers=scanner_headers,
    )
    response = client.post(f"/api/scan-runs/{run.id}/cancel", headers=bearer(tokens["member"]))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "RUN_TERMINAL"
    assert fresh(run.id).status == "completed"


@pytest.mark.parametrize(
    ("who", "run_id", "status"),
    [("outsider", None, 404), ("member", 2**63, 404), ("nobody", None, 401)],
)
def test_api_cancel_is_for_members_only(app, two_orgs, who, run_id, status):
    run, _, tokens = two_orgs
    headers = bearer(tokens[who]) if who in tokens else {}
    response = app.test_client().post(f"/api/scan-runs/{run_id or run.id}/cancel", headers=headers)
    assert response.status_code == status
    assert fresh(run.id).status == "queued"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html).group(1)


def test_run_page_cancel_button(two_orgs, login):
    run, _, _ = two_orgs
    browser = login("member@acme.test")
    page = browser.get(f"/scan-runs/{run.id}")
    assert 'id="cancel-scan"' in page.text
    assert 'id="run-attempt">1<' in page.text
    assert 'http-equiv="refresh"' in page.text

    response = browser.post(f"/scan-runs/{run.id}/cancel", data={"csrf_token": _csrf(page.text)})

    assert response.status_code == 302
    after = browser.get(response.headers["Location"])
    assert "CANCELLED" in after.text and 'id="cancel-scan"' not in after.text
    assert 'http-equiv="refresh"' not in after.text
    assert fresh(run.id).error_code == "CANCELLED"


def test_run_page_cancel_needs_the_csrf_token(two_orgs, login):
    run, _, _ = two_orgs
    browser = login("member@acme.test")
    response = browser.post(f"/scan-runs/{run.id}/cancel", data={})
    assert response.status_code == 400
    assert fresh(run.id).status == "queued"


def test_run_page_cancel_of_another_org_is_404(two_orgs, login):
    run, _, _ = two_orgs
    browser = login("outsider@other.test")
    token = browser.csrf_token("/projects")
    response = browser.post(f"/scan-runs/{run.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 404
    assert fresh(run.id).status == "queued"


def test_run_page_cancel_without_a_session_goes_to_login(two_orgs, web):
    run, _, _ = two_orgs
    response = web().post(f"/scan-runs/{run.id}/cancel")
    assert response.status_code in (302, 400)
    assert fresh(run.id).status == "queued"


def test_run_page_shows_the_lease_while_running(two_orgs, login):
    run, _, _ = two_orgs
    claim_runs(1, 120)
    page = login("member@acme.test").get(f"/scan-runs/{run.id}").text
    assert "lease held" in page
    assert 'id="run-elapsed"' in page
