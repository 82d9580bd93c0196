"""Dispatch (API.md 3.9): claim, heartbeat, lease expiry, attempts, deadline, late postbacks."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select, update

from tests import payloads
from tests.conftest import SCANNER_SECRET
from tests.scans.conftest import CLAIM, age, expire_lease, fresh
from webriskops.extensions import db
from webriskops.models import CreditEntry, Organization, OutboxJob, ScanRun
from webriskops.models.base import as_utc, utcnow
from webriskops.scans.services import sweep_runs


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def restores(run_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(CreditEntry)
        .where(CreditEntry.settles_run_id == run_id, CreditEntry.kind == "restore")
    )


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_claim_hands_out_the_oldest_queued_runs_once(claim, make_project, make_run):
    project = make_project()
    runs = [make_run(project) for _ in range(3)]

    first = claim({"max": 2, "leaseSeconds": 60})

    assert first.status_code == 200, first.text
    claimed = first.get_json()["runs"]
    assert [run["scanRunId"] for run in claimed] == [runs[0].id, runs[1].id]
    one = claimed[0]
    assert set(one) == {
        "scanRunId", "projectId", "baseUrl", "attempt", "leaseExpiresAt", "deadlineAt",
        "artifactPrefix",
    }  # fmt: skip
    assert (one["projectId"], one["baseUrl"], one["attempt"]) == (project.id, project.base_url, 1)
    assert one["artifactPrefix"] == f"scan-runs/{runs[0].id}/"
    run = fresh(runs[0].id)
    assert run.status == "running"
    assert run.started_at is not None
    lease = (when(one["leaseExpiresAt"]) - as_utc(run.started_at)).total_seconds()
    assert 59 <= lease <= 61
    deadline = (when(one["deadlineAt"]) - as_utc(run.created_at)).total_seconds()
    assert round(deadline) == 3600
    assert "RateLimit" in first.headers and "RateLimit-Policy" in first.headers

    second = claim()  # no body: one run, the default lease
    assert [run["scanRunId"] for run in second.get_json()["runs"]] == [runs[2].id]
    assert claim({"max": 50}).get_json() == {"runs": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max": 0}, "max"),
        ({"max": 51}, "max"),
        ({"max": "2"}, "max"),
        ({"max": True}, "max"),
        ({"max": 1.5}, "max"),
        ({"leaseSeconds": 29}, "leaseSeconds"),
        ({"leaseSeconds": 3601}, "leaseSeconds"),
        ({"leaseSeconds": None}, "leaseSeconds"),
        (b'{"leaseSeconds": 1180591620717411303424}', "leaseSeconds"),
    ],
)
def test_claim_validates_its_body(claim, make_run, body, field):
    make_run()
    response = claim(body)
    assert response.status_code == 422, response.text
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert list(error["fields"]) == [field]
    assert claim({"max": 1, "unknown": "ignored"}).status_code == 200


@pytest.mark.parametrize(
    ("data", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "MALFORMED_JSON"),
        (b"[1, 2]", {}, 400, "MALFORMED_JSON"),
        (b'{"max": 1e400}', {}, 400, "MALFORMED_JSON"),
        (b'{"max": 1}', {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"\x1f\x8b garbage", {"Content-Encoding": "gzip"}, 400, "MALFORMED_JSON"),
        (b'{"max": 1}', {"X-Scanner-Secret": "wrong"}, 401, "UNAUTHORIZED"),
        (b'{"max": 1}', {"X-Scanner-Secret": None}, 401, "UNAUTHORIZED"),
    ],
)
def test_claim_refuses_malformed_requests(claim, make_run, data, headers, status, code):
    run = make_run()
    response = claim(data, headers)
    assert response.status_code == status, response.text
    assert response.get_json()["error"]["code"] == code
    assert fresh(run.id).status == "queued"
    if status == 401:  # nothing counted for a stranger: the policy only
        assert "RateLimit" not in response.headers and "RateLimit-Policy" in response.headers


@pytest.fixture
def app_overrides(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_overrides", [{"SCANNER_RATE_LIMIT": "2/minute"}], indirect=True)
def test_claim_and_heartbeat_share_the_scanner_rate_limit(claim, beat, post, make_run):
    run = make_run()
    assert claim().status_code == 200
    assert beat(run.id).status_code == 200
    refused = claim()
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit"].startswith('"scanner";r=0;')
    assert post(payloads.completed(run.id)).status_code == 429  # one budget for every call


@pytest.fixture
def post(client, scanner_headers):
    def send(payload: dict):
        return client.post(
            "/api/scanner/results", data=orjson.dumps(payload), headers=scanner_headers
        )

    return send


def test_heartbeat_extends_the_lease(claim, beat, make_run):
    run = make_run()
    claim({"leaseSeconds": 30})
    soon = utcnow() + timedelta(seconds=5)  # the lease has almost run out
    db.session.execute(update(ScanRun).where(ScanRun.id == run.id).values(lease_expires_at=soon))
    db.session.commit()

    response = beat(run.id)

    assert response.status_code == 200, response.text
    extended = when(response.get_json()["leaseExpiresAt"])
    assert 29 <= (extended - utcnow()).total_seconds() <= 31  # the claim's leaseSeconds again
    assert as_utc(fresh(run.id).lease_expires_at) == extended
    assert "RateLimit" in response.headers


def test_heartbeat_after_expiry_is_lease_lost(claim, beat, make_run):
    run = make_run()
    claim({"leaseSeconds": 30})
    expire_lease(run.id)

    response = beat(run.id)

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "LEASE_LOST"
    assert sweep_runs() == {"requeued": 1, "timedOut": 0}
    assert beat(run.id).get_json()["error"]["code"] == "LEASE_LOST"  # requeued: not yours


@pytest.mark.parametrize("run_id", ["999999", str(2**63), "abc", "-1", "1.5"])
def test_heartbeat_of_an_unknown_run_is_404(beat, run_id):
    response = beat(run_id)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "SCAN_RUN_NOT_FOUND"


def test_heartbeat_checks_the_secret_before_the_run(beat):
    response = beat("abc", headers={"X-Scanner-Secret": "wrong"})
    assert response.status_code == 401


def test_heartbeat_of_a_finished_run_is_lease_lost(claim, beat, post, make_run):
    run = make_run()
    claim()
    assert post(payloads.completed(run.id)).status_code == 202
    assert beat(run.id).status_code == 409


def test_expired_lease_requeues_with_the_next_attempt(claim, make_run):
    run = make_run()
    claim()
    expire_lease(run.id)

    assert sweep_runs() == {"requeued": 1, "timedOut": 0}

    requeued = fresh(run.id)
    assert (requeued.status, requeued.attempt) == ("queued", 2)
    assert requeued.lease_expires_at is None and requeued.credit_state == "reserved"
    again = claim().get_json()["runs"]
    assert [(r["scanRunId"], r["attempt"]) for r in again] == [(run.id, 2)]


def test_the_last_attempt_ends_in_scan_timeout_with_the_credit_restored(claim, make_run):
    run = make_run()
    org_id = run.project.organization_id
    for attempt in (1, 2, 3):
        assert claim().get_json()["runs"][0]["attempt"] == attempt
        expire_lease(run.id)
        sweep_runs()

    failed = fresh(run.id)
    assert (failed.status, failed.error_code, failed.credit_state) == (
        "failed",
        "SCAN_TIMEOUT",
        "restored",
    )
    assert "attempt 3 of 3" in failed.error_message
    assert restores(run.id) == 1
    org = db.session.get(Organization, org_id)
    assert (org.credits, org.reserved_credits) == (10, 0)
    assert claim().get_json() == {"runs": []}
    jobs = set(db.session.scalars(select(OutboxJob.name)))
    assert {"finish_scan_run", "collect_artifacts", "automate_failure", "send_webhooks"} <= jobs


@pytest.mark.parametrize("app_overrides", [{"SCAN_MAX_ATTEMPTS": 1}], indirect=True)
def test_max_attempts_is_configurable(claim, make_run):
    run = make_run()
    claim()
    expire_lease(run.id)
    assert sweep_runs() == {"requeued": 0, "timedOut": 1}


@pytest.mark.parametrize("status", ["queued", "running"])
def test_the_deadline_ends_in_scan_timeout(claim, make_run, status):
    run = make_run()
    if status == "running":
        claim({"leaseSeconds": 3600})
    age(run.id, 3601)

    assert claim().get_json() == {"runs": []}  # past its deadline: never handed out
    assert sweep_runs() == {"requeued": 0, "timedOut": 1}

    failed = fresh(run.id)
    assert (failed.status, failed.error_code) == ("failed", "SCAN_TIMEOUT")
    assert "3600 seconds" in failed.error_message
    assert (failed.started_at is None) == (status == "queued")
    assert restores(run.id) == 1
    assert sweep_runs() == {"requeued": 0, "timedOut": 0}
    assert restores(run.id) == 1


def test_a_postback_after_the_timeout_is_a_duplicate(claim, post, make_run):
    run = make_run()
    claim()
    age(run.id, 4000)
    sweep_runs()

    response = post(payloads.completed(run.id))

    assert response.status_code == 202
    body = response.get_json()
    assert (body["duplicate"], body["status"], body["issuesStored"]) == (True, "failed", 0)
    assert fresh(run.id).error_code == "SCAN_TIMEOUT"
    assert restores(run.id) == 1


@pytest.mark.parametrize("leased", ["queued", "leased", "lease-expired"])
def test_a_postback_is_accepted_for_a_queued_or_running_run(claim, post, make_run, leased):
    run = make_run()
    started = None
    if leased != "queued":
        claim()
        started = fresh(run.id).started_at
    if leased == "lease-expired":
        expire_lease(run.id)

    response = post(payloads.completed(run.id))

    assert response.status_code == 202
    assert response.get_json()["duplicate"] is False
    done = fresh(run.id)
    assert (done.status, done.lease_expires_at) == ("completed", None)
    if started is not None:
        assert done.started_at == started  # the claim time is kept
    assert sweep_runs() == {"requeued": 0, "timedOut": 0}


def test_a_failed_postback_takes_the_same_failure_path(claim, post, make_run):
    run = make_run()
    claim()
    response = post(payloads.failed(run.id))
    assert response.status_code == 202
    failed = fresh(run.id)
    assert (failed.status, failed.credit_state, failed.lease_expires_at) == (
        "failed",
        "restored",
        None,
    )
    assert restores(run.id) == 1


def test_read_api_and_cli_show_dispatch_fields(app, claim, make_run, make_user, runner):
    from webriskops.auth.tokens import create_token

    run = make_run()
    user = make_user(db.session.get(Organization, run.project.organization_id))
    token = create_token(user)
    db.session.commit()
    claimed = claim({"leaseSeconds": 120}).get_json()["runs"][0]

    body = (
        app.test_client()
        .get(f"/api/scan-runs/{run.id}", headers={"Authorization": f"Bearer {token}"})
        .get_json()
    )
    assert body["attempt"] == 1
    assert body["leaseExpiresAt"] == claimed["leaseExpiresAt"]
    assert body["deadlineAt"] == claimed["deadlineAt"]
    assert body["startedAt"] is not None

    shown = runner.invoke(args=["scan-runs", "show", str(run.id)])
    data = orjson.loads(shown.stdout)
    assert (data["attempt"], data["leaseExpiresAt"], data["credit"]) == (
        1,
        claimed["leaseExpiresAt"],
        "reserved",
    )


def test_jobs_sweep_applies_the_rules_and_keeps_its_output(claim, make_run, runner):
    run = make_run()
    claim()
    expire_lease(run.id)

    result = runner.invoke(args=["jobs", "sweep"])

    assert result.exit_code == 0, result.output
    assert list(orjson.loads(result.stdout)) == ["enqueued"]  # the contract's one object
    assert "1 requeued" in result.stderr
    assert fresh(run.id).status == "queued"


def test_scanner_secret_is_required_for_claims(client):
    response = client.post(CLAIM, json={}, headers={"X-Scanner-Secret": SCANNER_SECRET + "x"})
    assert response.status_code == 401


def test_the_worker_sweeps_runs_before_the_outbox(app, claim, make_run):
    from webriskops.jobs.worker import OutboxWorker

    run = make_run()
    claim()
    expire_lease(run.id)
    worker = OutboxWorker.__new__(OutboxWorker)  # no Redis needed to call its sweep
    worker.app = app

    worker.sweep()

    assert (fresh(run.id).status, fresh(run.id).attempt) == ("queued", 2)
