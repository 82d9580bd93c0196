"""Fixtures for the customer side: a browser-like client, logging in, and two tenants.

``web`` runs every request in an app context of its own, like a real server does:
the ``app`` fixture's outer context would otherwise share ``g`` (and Flask-WTF's cached
CSRF token) between requests of different clients.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests import payloads
from webriskops.extensions import db
from webriskops.models import Organization, Project, ScanRun, User

PASSWORD = "correct horse battery"  # noqa: S105 - test users only
_TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


class BrowserClient(FlaskClient):
    """A test client whose requests each get a fresh app context (as on a real server)."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def csrf_token(self, path: str = "/login") -> str:
        """The CSRF token of this client's session, read from a form page."""
        response = self.get(path, follow_redirects=True)  # logged in: /login → /projects
        match = _TOKEN.search(response.text)
        assert match, f"no csrf_token field on {path}"
        return match.group(1)


@pytest.fixture
def web(app: Flask) -> Callable[[], BrowserClient]:
    """A factory of browser-like clients (each with its own cookies)."""
    app.test_client_class = BrowserClient

    def make() -> BrowserClient:
        return app.test_client()

    return make


@pytest.fixture
def login(web: Callable[[], BrowserClient]) -> Callable[..., BrowserClient]:
    """A client logged in as ``email`` through the real form (CSRF token included)."""

    def log_in(email: str, password: str = PASSWORD) -> BrowserClient:
        client = web()
        response = client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": client.csrf_token()},
        )
        assert response.status_code == 302, response.text
        return client

    return log_in


@dataclass
class Tenants:
    """Organization A (owner, member, a project with a completed run) and organization B."""

    org: Organization
    project: Project
    run: ScanRun
    owner: User
    member: User
    other_org: Organization
    other_project: Project
    outsider: User
    screenshot: str
    snapshot: str


@pytest.fixture
def post_result(app: Flask, scanner_headers: dict[str, str]) -> Callable[[dict], TestResponse]:
    """Post a scanner payload through the real endpoint (jobs run in-process after commit)."""

    def post(payload: dict) -> TestResponse:
        with app.app_context():
            response = app.test_client().post(
                "/api/scanner/results", data=orjson.dumps(payload), headers=scanner_headers
            )
        assert response.status_code == 202, response.text
        db.session.expire_all()  # the test's own session must see what the postback wrote
        return response

    return post


def put_artifacts(payload: dict[str, Any]) -> None:
    """Store the screenshots and snapshots a payload names, as the scanner would."""
    from webriskops.demo import png
    from webriskops.storage import storage

    entries = payload.get("pages") or [payload]
    for entry in entries:
        artifacts = entry["artifacts"]
        storage().put(artifacts["screenshotPath"], png(32, 20, (10, 20, 200)), "image/png")
        if artifacts.get("htmlSnapshotPath"):
            storage().put(
                artifacts["htmlSnapshotPath"],
                b"<html><body><script>alert(1)</script>hello</body></html>",
                "text/html",
            )


@pytest.fixture
def tenants(make_org, make_project, make_run, make_user, post_result) -> Tenants:
    """Two organizations; A has a completed, reported run with two pages."""
    org = make_org("Acme", credits=5)
    project = make_project(org, "Acme shop")
    owner = make_user(org, "owner@acme.test", "owner", PASSWORD)
    member = make_user(org, "member@acme.test", "member", PASSWORD)
    run = make_run(project)
    payload = payloads.multi(run.id, pages=2, issues_per_page=2)
    put_artifacts(payload)
    post_result(payload)
    other_org = make_org("Other", credits=5)
    other_project = make_project(other_org, "Other site")
    outsider = make_user(other_org, "outsider@other.test", "owner", PASSWORD)
    db.session.expire_all()
    return Tenants(
        org=org,
        project=project,
        run=run,
        owner=owner,
        member=member,
        other_org=other_org,
        other_project=other_project,
        outsider=outsider,
        screenshot=payload["pages"][0]["artifacts"]["screenshotPath"],
        snapshot=payload["pages"][0]["artifacts"]["htmlSnapshotPath"],
    )


@pytest.fixture
def member_token(tenants) -> dict[str, str]:
    """Authorization headers of organization A's member (not an owner)."""
    from webriskops.auth.tokens import create_token

    token = create_token(tenants.member)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def outsider_token(tenants) -> dict[str, str]:
    """Authorization headers of organization B's owner."""
    from webriskops.auth.tokens import create_token

    token = create_token(tenants.outsider)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}
