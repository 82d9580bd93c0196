"""Exports of a run's findings: SARIF 2.1.0 for code-scanning tools, CSV for spreadsheets.

SARIF: one ``result`` per issue, its fingerprint in ``partialFingerprints`` (so GitHub
code scanning and DefectDojo track it across runs), its occurrences as locations (the
first ``SARIF_LOCATION_LIMIT``, with the total in ``properties``), its severity as
``level`` and one rule per issue type. A triaged finding carries a SARIF suppression.
CSV: one row per issue; a cell that a spreadsheet would read as a formula is prefixed
with an apostrophe (OWASP's CSV injection advice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import url_for

from webriskops.models import ScanRun
from webriskops.models.base import isoformat
from webriskops.models.triage import TRIAGE_LABELS
from webriskops.reports.findings import Finding, FindingFilter, iter_findings

SARIF_MEDIA_TYPE = "application/sarif+json"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_LOCATION_LIMIT = 20
SARIF_LEVELS = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning ranks security results by this property (CVSS-like, 0.0-10.0).
SECURITY_SEVERITY = {"high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
CSV_COLUMNS = (
    "fingerprint",
    "severity",
    "category",
    "type",
    "title",
    "change",
    "triage",
    "triage reason",
    "triaged by",
    "confidence",
    "pages",
    "first seen on",
    "description",
    "business impact",
    "remediation",
    "evidence",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _rule(finding: Finding) -> dict[str, Any]:
    issue = finding.issue
    rule: dict[str, Any] = {
        "id": issue.type,
        "name": issue.type,
        "shortDescription": {"text": issue.title},
        "fullDescription": {"text": issue.description or issue.title},
        "defaultConfiguration": {"level": SARIF_LEVELS[issue.severity]},
        "properties": {"tags": [issue.category], "category": issue.category},
    }
    if issue.suggested_remediation:
        rule["help"] = {"text": issue.suggested_remediation}
    if issue.category == "security":
        rule["properties"]["security-severity"] = SECURITY_SEVERITY[issue.severity]
    return rule


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    issue = finding.issue
    result: dict[str, Any] = {
        "ruleId": issue.type,
        "ruleIndex": rule_index,
        "level": SARIF_LEVELS[issue.severity],
        "message": {"text": issue.title},
        "partialFingerprints": {"webriskops/v1": issue.fingerprint},
        "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": url}}} for url in finding.occurrences
        ],
        "properties": {
            "severity": issue.severity,
            "category": issue.category,
            "confidence": issue.confidence,
            "occurrenceCount": finding.occurrence_count,
            "change": finding.change,
            "description": issue.description,
            "evidence": issue.evidence,
        },
    }
    if finding.triage_state != "open":
        triage = finding.triage
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{TRIAGE_LABELS[triage.state]}: {triage.reason}".rstrip(": "),
                "properties": {
                    "triage": triage.state,
                    "updatedBy": triage.updated_by_email,
                    "updatedAt": isoformat(triage.updated_at),
                },
            }
        ]
    return result


def sarif_log(run: ScanRun) -> dict[str, Any]:
    """The run's findings as one SARIF 2.1.0 log with one run."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for finding in iter_findings(
        run, FindingFilter(sort="id"), occurrence_limit=SARIF_LOCATION_LIMIT, normalized=False
    ):
        rule_type = finding.issue.type
        if rule_type not in index:
            index[rule_type] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, index[rule_type]))
    invocation: dict[str, Any] = {"executionSuccessful": run.status == "completed"}
    if run.started_at or run.created_at:
        invocation["startTimeUtc"] = isoformat(run.started_at or run.created_at)
    if run.finished_at:
        invocation["endTimeUtc"] = isoformat(run.finished_at)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "WebRiskOps",
                        "informationUri": url_for("docs.index", _external=True),
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"webriskops/project-{run.project_id}/"},
                "invocations": [invocation],
                "results": results,
                "properties": {
                    "scanRunId": run.id,
                    "projectId": run.project_id,
                    "baseUrl": run.project.base_url,
                    "counters": run.counters(),
                },
            }
        ],
    }


def csv_cell(value: Any) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(run: ScanRun, flt: FindingFilter) -> Iterator[str]:
    """The CSV export of ``run``'s findings matching ``flt``, a few lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    buffer.write("\ufeff")  # a BOM, so spreadsheet programs read the file as UTF-8
    writer.writerow(CSV_COLUMNS)
    yield flush()
    for finding in iter_findings(run, flt, occurrence_limit=1):
        issue, triage = finding.issue, finding.triage
        writer.writerow(
            csv_cell(value)
            for value in (
                issue.fingerprint,
                issue.severity,
                issue.category,
                issue.type,
                issue.title,
                finding.change,
                finding.triage_state,
                triage.reason if triage else "",
                triage.updated_by_email if triage else "",
                issue.confidence,
                finding.occurrence_count,
                finding.occurrences[0] if finding.occurrences else "",
                issue.description,
                issue.business_impact,
                issue.suggested_remediation,
                issue.evidence,
            )
        )
        yield flush()
