"""Triage: set from the scan detail page or the API, kept per project and fingerprint.

A decision carries over to every later run that reports the same fingerprint; the read
API shows it on each issue; the report lists triaged findings apart and scores only
the open ones. Forms need their CSRF token; another organization gets 404.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests import payloads
from webriskops.extensions import db
from webriskops.models import Issue
from webriskops.models.triage import TriageState


def _fingerprints(tenants) -> list[str]:
    return list(
        db.session.scalars(
            select(Issue.fingerprint).where(Issue.scan_run_id == tenants.run.id).order_by(Issue.id)
        )
    )


def _put(client, project_id, headers, body, **kwargs):
    return client.put(f"/api/projects/{project_id}/triage", json=body, headers=headers, **kwargs)


def test_api_sets_triage_and_every_later_run_carries_it(
    tenants, client, member_token, make_run, post_result
):
    fingerprint = _fingerprints(tenants)[0]
    response = _put(
        client,
        tenants.project.id,
        member_token,
        {"fingerprint": fingerprint, "state": "false_positive", "reason": "Test page only"},
    )
    assert response.status_code == 200, response.text
    body = response.json
    assert body["fingerprint"] == fingerprint and body["state"] == "false_positive"
    assert body["reason"] == "Test page only" and body["updatedBy"] == tenants.member.email
    assert body["updatedAt"].endswith("Z")

    # The next scan reports the same fingerprint again: it is still a false positive.
    later = make_run(tenants.project)
    post_result(payloads.multi(later.id, pages=2, issues_per_page=2))
    issues = client.get(f"/api/scan-runs/{later.id}", headers=member_token).json["issues"]
    by_fp = {issue["fingerprint"]: issue for issue in issues}
    assert by_fp[fingerprint]["triage"]["state"] == "false_positive"
    assert by_fp[fingerprint]["triage"]["updatedBy"] == tenants.member.email
    others = [issue for fp, issue in by_fp.items() if fp != fingerprint]
    assert others and all(
        issue["triage"] == {"state": "open", "reason": None, "updatedAt": None, "updatedBy": None}
        for issue in others
    )
    assert all(issue["change"] == "recurring" for issue in issues)

    # Reopening is a decision too, and is recorded with who made it.
    reopened = _put(
        client, tenants.project.id, member_token, {"fingerprint": fingerprint, "state": "open"}
    )
    assert reopened.status_code == 200 and reopened.json["state"] == "open"
    assert db.session.scalar(select(func.count()).select_from(TriageState)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "false_positive"}, "fingerprint"),
        ({"fingerprint": "short", "state": "open"}, "fingerprint"),
        ({"fingerprint": "fp-0000001", "state": "wontfix"}, "state"),
        ({"fingerprint": "fp-0000001"}, "state"),
        ({"fingerprint": "fp-0000001", "state": "open", "reason": "x" * 2001}, "reason"),
        ({"fingerprint": "fp-0000001", "state": "open", "reason": 7}, "reason"),
        ({"fingerprint": ["fp-0000001"], "state": "open"}, "fingerprint"),
        ({"fingerprint": "fp-0000001", "state": "open", "reason": "a\x00b"}, "reason"),
    ],
)
def test_api_field_errors_are_422(tenants, client, member_token, body, field):
    response = _put(client, tenants.project.id, member_token, body)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "VALIDATION_FAILED" and field in error["fields"]
    assert db.session.scalar(select(func.count()).select_from(TriageState)) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("[1, 2]", "application/json", 400, "MALFORMED_JSON"),
        ("{not json", "application/json", 400, "MALFORMED_JSON"),
        ("fingerprint=x", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_api_rejects_bodies_that_are_not_json_objects(
    tenants, client, member_token, data, content_type, status, code
):
    response = client.put(
        f"/api/projects/{tenants.project.id}/triage",
        data=data,
        headers={**member_token, "Content-Type": content_type},
    )
    assert response.status_code == status and response.json["error"]["code"] == code


def test_api_of_another_organization_is_404(tenants, client, outsider_token, member_token):
    fingerprint = _fingerprints(tenants)[0]
    body = {"fingerprint": fingerprint, "state": "accepted_risk", "reason": "mine now"}
    response = _put(client, tenants.project.id, outsider_token, body)
    assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND"
    assert _put(client, tenants.project.id, {}, body).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(TriageState)) == 0
    # Unknown and out-of-range projects look the same.
    assert _put(client, 2**63, member_token, body).status_code == 404


def _form(client, run_id: int, **fields):
    return client.post(f"/scan-runs/{run_id}/triage", data=fields)


def test_form_sets_triage_for_members_and_keeps_the_filters(tenants, login):
    fingerprint = _fingerprints(tenants)[1]
    member = login(tenants.member.email)
    token = member.csrf_token(f"/scan-runs/{tenants.run.id}")
    response = _form(
        member,
        tenants.run.id,
        csrf_token=token,
        fingerprint=fingerprint,
        state="accepted_risk",
        reason="Fixed by the CDN",
        severity="medium",
        issues_page="1",
        endpoint="evil",  # not a field the form knows: ignored
    )
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"/scan-runs/{tenants.run.id}?severity=medium&issues_page=1#issues"
    )
    row = db.session.scalars(select(TriageState)).one()
    assert (row.state, row.reason, row.updated_by_email) == (
        "accepted_risk",
        "Fixed by the CDN",
        tenants.member.email,
    )
    page = member.get(f"/scan-runs/{tenants.run.id}?triage=accepted_risk")
    assert page.status_code == 200
    assert page.text.count('class="issue ') == 1 and "Fixed by the CDN" in page.text


def test_form_needs_its_csrf_token(tenants, login):
    member = login(tenants.member.email)
    fingerprint = _fingerprints(tenants)[0]
    response = _form(member, tenants.run.id, fingerprint=fingerprint, state="false_positive")
    assert response.status_code == 400
    forged = _form(
        member, tenants.run.id, csrf_token="forged", fingerprint=fingerprint, state="open"
    )
    assert forged.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(TriageState)) == 0


def test_form_of_another_organization_is_404(tenants, login):
    outsider = login(tenants.outsider.email)
    token = outsider.csrf_token("/projects")
    fingerprint = _fingerprints(tenants)[0]
    response = _form(
        outsider, tenants.run.id, csrf_token=token, fingerprint=fingerprint, state="open"
    )
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(TriageState)) == 0


def test_form_with_a_bad_state_says_so(tenants, login):
    member = login(tenants.member.email)
    token = member.csrf_token(f"/scan-runs/{tenants.run.id}")
    response = _form(member, tenants.run.id, csrf_token=token, fingerprint="x", state="nope")
    assert response.status_code == 302
    page = member.get(response.headers["Location"])
    assert "The finding was not updated" in page.text and "state: Must be one of" in page.text
    assert db.session.scalar(select(func.count()).select_from(TriageState)) == 0


def test_report_lists_triaged_findings_apart_and_scores_open_ones(
    tenants, client, member_token, login
):
    fingerprints = _fingerprints(tenants)  # four medium issues: score 16
    _put(
        client,
        tenants.project.id,
        member_token,
        {"fingerprint": fingerprints[0], "state": "false_positive", "reason": "staging only"},
    )
    report = login(tenants.owner.email).get(f"/scan-runs/{tenants.run.id}/report")
    assert report.status_code == 200
    text = report.text
    findings, triaged = text.split('id="findings"')[1].split('id="triaged"')
    assert findings.count('class="issue ') == 3 and fingerprints[0] not in findings
    assert triaged.count('class="issue ') == 1 and "staging only" in triaged
    assert "Open findings only: <strong>12</strong>" in text
    assert "3 open · 1 false positive · 0 accepted risk" in text
