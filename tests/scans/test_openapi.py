"""The OpenAPI document covers dispatch and cancel, from the same schemas the endpoints use."""

from __future__ import annotations

import pytest

OPERATIONS = {
    ("/api/scanner/runs/claim", "scans.claim", "scannerSecret"): {"200", "401", "422", "429"},
    ("/api/scanner/runs/{scanRunId}/heartbeat", "scans.heartbeat", "scannerSecret"): {
        "200", "401", "404", "409", "429",
    },
    ("/api/scan-runs/{scanRunId}/cancel", "scans.api_cancel", "bearerToken"): {
        "200", "401", "404", "409",
    },
}  # fmt: skip


@pytest.mark.parametrize(("path", "endpoint", "security"), list(OPERATIONS))
def test_openapi_documents_dispatch(app, client, path, endpoint, security):
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"][path]["post"]
    assert operation["operationId"] == endpoint
    assert operation["security"] == [{security: []}]
    assert OPERATIONS[(path, endpoint, security)] <= set(operation["responses"])
    served = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    assert "POST" in served[endpoint].methods


def test_claim_limits_come_from_the_schema(client):
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    claim = schemas["ClaimRequest"]["properties"]
    assert (claim["max"]["minimum"], claim["max"]["maximum"]) == (1, 50)
    assert (claim["leaseSeconds"]["minimum"], claim["leaseSeconds"]["maximum"]) == (30, 3600)
    run = schemas["ClaimedRun"]["properties"]
    assert {"scanRunId", "attempt", "leaseExpiresAt", "deadlineAt", "artifactPrefix"} <= set(run)
    assert {"attempt", "leaseExpiresAt", "deadlineAt"} <= set(schemas["ScanRun"]["properties"])
