"""CSRF: every browser form is protected; the bearer API and the scanner endpoint are not."""

from __future__ import annotations

import pytest

# Every POST route of the app: the browser forms need a token, the rest are token-free
# because they authenticate with a header instead of a cookie.
BROWSER_FORMS = {
    "/login": "auth.login",
    "/logout": "auth.logout",
    "/projects/<int:project_id>/scan-runs": "reports.start_scan",
    "/scan-runs/<int:scan_run_id>/report/retry": "reports.retry_report",
    "/scan-runs/<int:scan_run_id>/triage": "reports.triage",
    "/scan-runs/<int:scan_run_id>/cancel": "scans.cancel",
}
HEADER_AUTHENTICATED = {
    "/api/scanner/results": "scanner.results.store",
    "/api/projects/<int:project_id>/scan-runs": "reports.api_start_scan",
    "/api/scanner/runs/claim": "scans.claim",
    "/api/scanner/runs/<scan_run_id>/heartbeat": "scans.heartbeat",
    "/api/scan-runs/<int:scan_run_id>/cancel": "scans.api_cancel",
}


def test_every_post_route_is_known(app):
    # The settings forms (accounts.*) are listed and tested in tests/accounts/test_access.py.
    posts = {
        rule.rule: rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.endpoint.startswith("accounts.")
    }
    assert posts == {**BROWSER_FORMS, **HEADER_AUTHENTICATED}


@pytest.mark.parametrize("with_bad_token", [False, True])
@pytest.mark.parametrize("rule", list(BROWSER_FORMS))
def test_form_post_without_token_is_refused(tenants, login, rule, with_bad_token, app):
    assert app.config["WTF_CSRF_ENABLED"] is True
    client = login(tenants.owner.email)
    url = rule.replace("<int:project_id>", str(tenants.project.id)).replace(
        "<int:scan_run_id>", str(tenants.run.id)
    )
    data = {"email": tenants.owner.email, "password": "correct horse battery"}
    if with_bad_token:
        data["csrf_token"] = "forged"
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert "reload the page and try again" in response.text
    assert client.get("/projects").status_code == 200  # still logged in: logout was refused


def test_csrf_failure_is_json_for_api_clients(web):
    response = web().post("/login", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "CSRF_FAILED"


def test_scanner_endpoint_needs_no_csrf_token(app, make_run, scanner_headers):
    import orjson

    from tests import payloads

    assert app.config["WTF_CSRF_ENABLED"] is True
    run = make_run()
    response = app.test_client().post(
        "/api/scanner/results",
        data=orjson.dumps(payloads.completed(run.id)),
        headers=scanner_headers,
    )
    assert response.status_code == 202
