"""Error answers say what happened: the app's JSON body for pages, and why a form was refused."""

from __future__ import annotations


def test_page_errors_use_the_apps_json_body(login, make_org, make_user):
    make_user(make_org(), "person@example.com")
    client = login("person@example.com")
    missing = client.get("/projects/999999", headers={"Accept": "application/json"})
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "NOT_FOUND"
    assert missing.json["error"]["message"] != "Not Found"  # the app's explanation, as elsewhere


def test_a_login_over_https_without_referer_says_what_happened(web, make_org, make_user):
    make_user(make_org(), "person@example.com")
    client = web()
    token = client.csrf_token()
    response = client.post(
        "/login",
        data={"email": "person@example.com", "password": "x", "csrf_token": token},
        base_url="https://localhost",
    )
    assert response.status_code == 400
    assert "did not say which page sent this form" in response.text
    assert "This form has expired" not in response.text
    other_site = client.post(
        "/login",
        data={"email": "person@example.com", "password": "x", "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://evil.example/login"},
    )
    assert "This form came from another site" in other_site.text
