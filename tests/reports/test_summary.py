"""The report's comparison with the previous completed run, across three runs."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests import payloads
from webriskops.extensions import db
from webriskops.models import ScanRun


def _issues(*names: str) -> list[dict]:
    severities = {"a": "high", "b": "medium", "c": "low", "d": "medium", "e": "info"}
    return [
        payloads.issue(
            ord(name),
            severity=severities[name],
            fingerprint=f"fp:{name}:00000",
            category="privacy" if name == "d" else "security",
            title=f"Issue {name.upper()}",
        )
        for name in names
    ]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_new_recurring_resolved_across_three_runs(make_project, make_run, post_result):
    project = make_project()
    first, second, failed, third = (make_run(project) for _ in range(4))
    post_result(payloads.completed(first.id, _issues("a", "b", "c")))
    post_result(payloads.completed(second.id, _issues("b", "c", "d")))
    # A failed run in between is not a "previous completed run".
    post_result(payloads.failed(failed.id))
    post_result(payloads.completed(third.id, _issues("c", "d", "e", "a")))
    db.session.expire_all()

    one, two, three = (db.session.get(ScanRun, run.id) for run in (first, second, third))
    assert [run.report_status for run in (one, two, three)] == ["ready"] * 3

    s1 = one.report_summary
    assert s1["previousScanRunId"] is None
    assert s1["new"] == ["fp:a:00000", "fp:b:00000", "fp:c:00000"]
    assert s1["recurring"] == [] and s1["resolved"] == []

    s2 = two.report_summary
    assert s2["previousScanRunId"] == first.id
    assert s2["new"] == ["fp:d:00000"]
    assert s2["recurring"] == ["fp:b:00000", "fp:c:00000"]
    assert s2["resolved"] == [
        {
            "fingerprint": "fp:a:00000",
            "severity": "high",
            "category": "security",
            "title": "Issue A",
        }
    ]
    assert s2["counts"] == {"new": 1, "recurring": 2, "resolved": 1}

    s3 = three.report_summary
    assert s3["previousScanRunId"] == second.id
    assert s3["new"] == ["fp:a:00000", "fp:e:00000"]  # A came back: new again against run 2
    assert s3["recurring"] == ["fp:c:00000", "fp:d:00000"]
    assert [item["fingerprint"] for item in s3["resolved"]] == ["fp:b:00000"]
    assert s3["bySeverity"] == {"high": 1, "medium": 1, "low": 1, "info": 1}
    assert s3["byCategory"] == {"security": 3, "privacy": 1}
    assert s3["issuesCount"] == 4
    assert s3["riskScore"] == three.counters()["riskScore"] == 15


def test_a_previous_run_without_issues_is_still_the_one_compared_with(
    make_project, make_run, post_result
):
    project = make_project()
    first, second = make_run(project), make_run(project)
    post_result(payloads.completed(first.id, []))
    post_result(payloads.completed(second.id, _issues("a")))
    db.session.expire_all()

    summary = db.session.get(ScanRun, second.id).report_summary
    assert summary["previousScanRunId"] == first.id
    assert summary["new"] == ["fp:a:00000"]
    assert summary["resolved"] == []
    assert db.session.get(ScanRun, first.id).report_summary["issuesCount"] == 0


def test_report_page_shows_the_comparison(make_project, make_run, make_user, post_result, login):
    project = make_project()
    make_user(project.organization, "owner@acme.test")
    first, second = make_run(project), make_run(project)
    post_result(payloads.completed(first.id, _issues("a", "b")))
    post_result(payloads.completed(second.id, _issues("b", "c")))
    page = login("owner@acme.test").get(f"/scan-runs/{second.id}/report")
    assert page.status_code == 200
    assert 'id="count-new">1<' in page.text
    assert 'id="count-recurring">1<' in page.text
    assert 'id="count-resolved">1<' in page.text
    assert "Issue A" in page.text  # the resolved issue is listed by title
    assert page.text.count('class="pill pill-new"') == 1
    assert page.text.count('class="pill pill-recurring"') == 1


@pytest.mark.parametrize("path", ["report", "report/print"])
def test_a_report_page_looks_up_the_previous_run_once(
    make_project, make_run, make_user, post_result, login, path
):
    project = make_project()
    make_user(project.organization, "owner@acme.test")
    first, second = make_run(project), make_run(project)
    post_result(payloads.completed(first.id, _issues("a", "b")))
    post_result(payloads.completed(second.id, _issues("b", "c")))
    client = login("owner@acme.test")
    lookups = []

    def record(_conn, _cursor, statement, *_args):
        if "scan_runs.status = " in statement and "scan_runs.id < " in statement:
            lookups.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = client.get(f"/scan-runs/{second.id}/{path}")
        text = page.get_data(as_text=True)  # the print page is streamed: read it all
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert page.status_code == 200
    assert 'class="pill pill-recurring"' in text
    assert len(lookups) == 1  # open, false-positive and accepted-risk findings share it
