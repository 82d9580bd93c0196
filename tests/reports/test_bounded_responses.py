"""Responses stay bounded however many pages share a fingerprint (issue 12, point 3).

The input that once gave a 105 MB read-API answer and a 109 MB report: 1000 pages with
2 KB URLs, every page reporting the same 50 fingerprints (50 issues, 50 000
occurrences). Each answer now lists a page of pages and issues, and each issue its
first occurrences with the total, so every answer is a small fraction of the postback.
"""

from __future__ import annotations

import gzip
import tracemalloc

import orjson
import pytest

from webriskops.extensions import db

PAGES = 1000
FINGERPRINTS = 50
MB = 1024 * 1024


def _payload(run_id: int) -> dict:
    issues = [
        {
            "category": "security",
            "type": "shared",
            "severity": "medium",
            "title": f"Shared finding {n}",
            "description": "",
            "fingerprint": f"shared-fingerprint-{n:04d}",
            "confidence": 90,
            "evidence": "",
        }
        for n in range(FINGERPRINTS)
    ]
    pages = []
    for n in range(PAGES):
        url = f"https://example.com/{'a' * 2000}/{n}"
        pages.append(
            {
                "page": {
                    "url": url,
                    "normalizedUrl": url,
                    "statusCode": 200,
                    "pageType": "content",
                    "responseHeaders": {},
                },
                "artifacts": {"screenshotPath": f"scan-runs/{run_id}/{n}.png"},
                "issues": issues,
            }
        )
    return {"scanRunId": run_id, "status": "completed", "pages": pages}


@pytest.fixture(scope="module")
def big_postback_size() -> int:
    return len(orjson.dumps(_payload(1)))


@pytest.fixture
def big_run(tenants, make_run, app, scanner_headers):
    run = make_run(tenants.project)
    body = gzip.compress(orjson.dumps(_payload(run.id)))
    with app.app_context():
        response = app.test_client().post(
            "/api/scanner/results",
            data=body,
            headers={**scanner_headers, "Content-Encoding": "gzip"},
        )
    assert response.status_code == 202, response.text
    db.session.expire_all()
    return run


def _measured(get, url: str, **kwargs) -> tuple[int, int]:
    """Response size and peak Python memory allocated while answering it."""
    tracemalloc.start()
    try:
        response = get(url, **kwargs)
        size = len(response.get_data())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, (url, response.status_code)
    return size, peak


def test_every_answer_is_bounded(big_run, big_postback_size, client, member_token, login):
    assert big_postback_size > 10 * MB
    run = big_run.id
    api = client.get(f"/api/scan-runs/{run}", headers=member_token).json
    assert api["pagesTotal"] == PAGES and api["issuesTotal"] == FINGERPRINTS
    assert len(api["pages"]) == 100 and api["next"] == f"/api/scan-runs/{run}?page=2&perPage=100"
    assert all(issue["occurrenceCount"] == PAGES for issue in api["issues"])
    assert all(len(issue["occurrences"]) == 20 for issue in api["issues"])
    more = api["issues"][0]["occurrencesNext"]
    rest = client.get(more, headers=member_token).json
    assert rest["total"] == PAGES and len(rest["items"]) == 20 and rest["page"] == 2

    web = login("member@acme.test")
    limits = {
        # (getter, url, headers): ceiling in bytes
        ("api", f"/api/scan-runs/{run}"): 3 * MB,
        ("api", f"/api/scan-runs/{run}?perPage=500&page=2"): 5 * MB,
        ("api", f"/api/scan-runs/{run}/sarif"): 3 * MB,
        ("web", f"/scan-runs/{run}"): 1.5 * MB,
        ("web", f"/scan-runs/{run}/report"): 1.5 * MB,
        ("web", f"/scan-runs/{run}/report/print"): 1.5 * MB,
        ("web", f"/scan-runs/{run}/issues.csv"): 0.5 * MB,
    }
    for (kind, url), ceiling in limits.items():
        if kind == "api":
            size, peak = _measured(client.get, url, headers=member_token)
        else:
            size, peak = _measured(web.get, url)
        print(f"{url}: {size} bytes, peak {peak} bytes")  # shown with -s
        assert size < ceiling, (url, size)
        assert size < big_postback_size / 2, (url, size)
        # Python allocations while answering stay a small multiple of the answer.
        assert peak < 64 * MB, (url, peak)


@pytest.mark.parametrize(
    ("query", "field"),
    [("perPage=501", "perPage"), ("perPage=0", "perPage"), ("page=x", "page"), ("page=²", "page")],
)
def test_bad_pagination_of_a_run_is_422(tenants, client, member_token, query, field):
    response = client.get(f"/api/scan-runs/{tenants.run.id}?{query}", headers=member_token)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_unknown_fingerprint_occurrences_are_404(tenants, client, member_token):
    url = f"/api/scan-runs/{tenants.run.id}/occurrences?fingerprint=nope-nope-nope"
    response = client.get(url, headers=member_token)
    assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND"
