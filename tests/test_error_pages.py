"""Every URL answers errors in the product's own frame: a branded HTML page for browsers,
the one JSON error body under ``/api/``."""

from __future__ import annotations

import pytest


@pytest.fixture
def boom(app):
    """Routes that fail unexpectedly, for the 500 pages."""

    def fail():
        raise RuntimeError("unexpected")

    app.add_url_rule("/boom", "boom", fail)
    app.add_url_rule("/api/boom", "api_boom", fail)
    return app


@pytest.mark.parametrize("path", ["/no/such/page", "/scan-runs/abc", "/docs/nope", "/static/x.css"])
def test_unknown_urls_get_the_branded_404(client, path):
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Not found" in response.text and 'class="topbar"' in response.text
    assert 'href="/docs/"' in response.text  # the docs link of the frame


def test_unknown_api_urls_get_the_json_error(client):
    response = client.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "NOT_FOUND"


def test_405_page_keeps_its_allow_header(client):
    response = client.delete("/login", headers={"Accept": "text/html"})
    assert response.status_code == 405 and "Allow" in response.headers
    assert "Not allowed here" in response.text


def test_500_is_branded_for_browsers_and_json_for_the_api(boom):
    client = boom.test_client()
    page = client.get("/boom", headers={"Accept": "text/html"})
    assert page.status_code == 500 and "Something went wrong" in page.text
    assert "RuntimeError" not in page.text and 'class="topbar"' in page.text
    api = client.get("/api/boom")
    assert api.status_code == 500 and api.json["error"]["code"] == "INTERNAL_ERROR"
