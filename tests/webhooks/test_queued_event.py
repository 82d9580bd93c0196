"""``scan_run.queued`` goes out, signed, whichever way a run is created (API.md 3.9)."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select

from tests.reports.conftest import PASSWORD, login, web  # noqa: F401 - fixtures
from tests.webhooks.conftest import add_endpoint, make_due
from webriskops.auth.tokens import create_token
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models import ScanRun
from webriskops.models.webhooks import WebhookDelivery
from webriskops.webhooks import signing


def start_with_cli(app, runner, project, user) -> None:
    result = runner.invoke(args=["scan-runs", "create", str(project.id)])
    assert result.exit_code == 0, result.output


def start_with_api(app, runner, project, user) -> None:
    token = create_token(user)
    db.session.commit()
    with app.app_context():
        response = app.test_client().post(
            f"/api/projects/{project.id}/scan-runs", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 201, response.text


def start_in_browser(app, runner, project, user, login) -> None:  # noqa: F811
    browser = login(user.email)
    token = browser.csrf_token(f"/projects/{project.id}")
    response = browser.post(f"/projects/{project.id}/scan-runs", data={"csrf_token": token})
    assert response.status_code == 302, response.text


@pytest.mark.parametrize("start", [start_with_cli, start_with_api, start_in_browser])
def test_a_new_run_sends_scan_run_queued(
    app,
    runner,
    make_org,
    make_project,
    make_user,
    receiver,
    login,  # noqa: F811 - the fixture imported above
    start,
):
    org = make_org()
    project = make_project(org)
    user = make_user(org, "owner@acme.test", "owner", PASSWORD)
    _, secret = add_endpoint(runner, org.id, receiver.url)

    if start is start_in_browser:
        start(app, runner, project, user, login)
    else:
        start(app, runner, project, user)

    run_id = db.session.scalar(select(ScanRun.id))
    [request] = receiver.requests
    signing.verify(secret, request.headers, request.body)
    event = orjson.loads(request.body)
    assert event["type"] == "scan_run.queued"
    assert (event["data"]["scanRunId"], event["data"]["status"]) == (run_id, "queued")
    assert event["data"]["projectId"] == project.id


def test_scan_run_queued_is_retried_like_the_other_events(
    app, runner, make_org, make_project, make_run, receiver
):
    org = make_org()
    add_endpoint(runner, org.id, receiver.url)
    receiver.answer(503)

    make_run(make_project(org))
    outbox.dispatch_ready()  # what a request does after its response
    make_due()
    runner.invoke(args=["jobs", "sweep"])

    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert (delivery.event_type, delivery.status, delivery.attempts) == (
        "scan_run.queued",
        "succeeded",
        2,
    )
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
