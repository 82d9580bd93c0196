"""Tenant isolation and authentication for every customer route, from one route table.

A member of another organization gets 404 everywhere (pages and API alike), exactly
as for something that does not exist; without a session pages send to the login page
and the API answers 401.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from webriskops.auth.tokens import create_token
from webriskops.extensions import db
from webriskops.models import Organization, ScanRun

# (method, path template, status the organization's own owner gets)
PAGES = [
    ("GET", "/projects/{project}", 200),
    ("GET", "/scan-runs/{run}", 200),
    ("GET", "/scan-runs/{run}/report", 200),
    ("GET", "/scan-runs/{run}/artifacts/{screenshot}", 200),
    ("GET", "/scan-runs/{run}/artifacts/{snapshot}", 200),
    ("POST", "/projects/{project}/scan-runs", 302),
    ("POST", "/scan-runs/{run}/report/retry", 302),
    ("GET", "/scan-runs/{run}/issues.csv", 200),
    ("GET", "/scan-runs/{run}/report/print", 200),
    ("POST", "/scan-runs/{run}/triage", 302),
]
API = [
    ("GET", "/api/scan-runs/{run}", 200),
    ("GET", "/api/projects/{project}/scan-runs", 200),
    ("POST", "/api/projects/{project}/scan-runs", 201),
    ("GET", "/api/scan-runs/{run}/sarif", 200),
]


def _url(template: str, tenants, **override) -> str:
    values = {
        "project": tenants.project.id,
        "run": tenants.run.id,
        "screenshot": tenants.screenshot,
        "snapshot": tenants.snapshot,
        **override,
    }
    return template.format(**values)


def _state() -> tuple:
    """Credits and run count, to show a refused request changed nothing."""
    db.session.expire_all()
    credits = db.session.execute(select(Organization.id, Organization.credits)).all()
    return sorted(credits), db.session.scalar(select(func.count()).select_from(ScanRun))


def _page_request(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": client.csrf_token("/login")})


@pytest.mark.parametrize(("method", "template", "own_status"), PAGES)
def test_pages_answer_404_to_another_organization(tenants, login, method, template, own_status):
    before = _state()
    outsider = login(tenants.outsider.email)
    response = _page_request(outsider, method, _url(template, tenants))
    assert response.status_code == 404
    assert "Not found" in response.text
    assert _state() == before
    # The same request works for the organization's owner, so the 404 is the tenant check.
    owner = login(tenants.owner.email)
    assert _page_request(owner, method, _url(template, tenants)).status_code == own_status


@pytest.mark.parametrize(("method", "template", "own_status"), API)
def test_api_answers_404_to_another_organization(tenants, client, method, template, own_status):
    before = _state()
    outsider_token = create_token(tenants.outsider)
    owner_token = create_token(tenants.owner)
    db.session.commit()
    url = _url(template, tenants)
    response = client.open(
        url, method=method, headers={"Authorization": f"Bearer {outsider_token}"}
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "NOT_FOUND"
    assert _state() == before
    owned = client.open(url, method=method, headers={"Authorization": f"Bearer {owner_token}"})
    assert owned.status_code == own_status


@pytest.mark.parametrize(("method", "template", "own_status"), PAGES)
def test_pages_without_session_go_to_login(tenants, web, method, template, own_status):
    before = _state()
    anonymous = web()
    url = _url(template, tenants)
    response = _page_request(anonymous, method, url)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/login")
    if method == "GET":
        assert unquote(location) == f"/login?next={url}"
    assert anonymous.get(location).status_code == 200
    assert _state() == before


@pytest.mark.parametrize(("method", "template", "own_status"), API)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer wro_not-a-token", "Basic dXNlcjpwYXNz", "Token x"]
)
def test_api_without_valid_token_is_401(
    tenants, client, method, template, own_status, authorization
):
    before = _state()
    headers = {"Authorization": authorization} if authorization else {}
    response = client.open(_url(template, tenants), method=method, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _state() == before


@pytest.mark.parametrize("ident", [999999, 2**63 - 1, 2**63, 10**30])
@pytest.mark.parametrize(("method", "template", "own_status"), PAGES[:3] + API[:2])
def test_unknown_and_out_of_range_ids_are_404(
    tenants, login, client, method, template, own_status, ident
):
    url = _url(template, tenants, project=ident, run=ident)
    if url.startswith("/api/"):
        token = create_token(tenants.owner)
        db.session.commit()
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    else:
        response = login(tenants.owner.email).get(url)
    assert response.status_code == 404


def test_projects_list_shows_only_the_users_organizations(tenants, login):
    page = login(tenants.outsider.email).get("/projects")
    assert page.status_code == 200
    assert tenants.other_project.name in page.text
    assert tenants.project.name not in page.text and tenants.org.name not in page.text
    own = login(tenants.owner.email).get("/projects")
    assert tenants.project.name in own.text and tenants.other_project.name not in own.text


def test_projects_list_without_session_goes_to_login(web):
    response = web().get("/projects")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/projects")


@pytest.mark.parametrize(
    "key",
    [
        "scan-runs/{other}/page-0.png",  # another run's real artifact
        "scan-runs/{run}/not-referenced.png",  # under the run's prefix, but not stored for it
        "scan-runs/{run}/../{other}/page-0.png",
        "../../etc/passwd",
    ],
)
def test_artifacts_are_limited_to_the_runs_own_keys(tenants, login, make_run, post_result, key):
    from tests import payloads
    from tests.reports.conftest import put_artifacts
    from webriskops.storage import storage

    other = make_run(tenants.other_project)
    payload = payloads.completed(other.id)
    put_artifacts(payload)
    post_result(payload)
    storage().put(f"scan-runs/{tenants.run.id}/not-referenced.png", b"x", "image/png")
    owner = login(tenants.owner.email)
    url = f"/scan-runs/{tenants.run.id}/artifacts/" + key.format(run=tenants.run.id, other=other.id)
    assert owner.get(url).status_code == 404
