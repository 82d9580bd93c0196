"""Filtering, search, sort and paging of findings, and query strings that must not break pages.

Pages build their links from the parameters they know (issue 12, point 9): a query
string naming ``url_for``'s own arguments (``endpoint``, ``_method``, ``_anchor``,
``_external``) or a view argument (``scan_run_id``) neither fails nor leaks into links.
"""

from __future__ import annotations

import random
import re

import pytest

from tests import payloads
from webriskops.extensions import db
from webriskops.models import Issue


@pytest.fixture
def varied(tenants, make_run, post_result):
    """A second run of project A with findings of every severity and a few categories."""
    run = make_run(tenants.project)
    issues = [
        payloads.issue(11, "high", category="security", title="Exposed admin panel"),
        payloads.issue(12, "medium", category="privacy", title="Tracking before consent"),
        payloads.issue(13, "low", category="seo", title="Missing meta description"),
        payloads.issue(
            14, "info", category="seo", title="Sitemap found", evidence="sitemap 100%_x"
        ),
        # The first run's fingerprints recur in this one.
        payloads.issue(0, "medium"),
        payloads.issue(1000, "medium"),
    ]
    post_result(payloads.completed(run.id, issues))
    return run


def _titles(text: str) -> list[str]:
    return re.findall(r'<h3 class="issue-title">([^<]+)</h3>', text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("severity=high", ["Exposed admin panel"]),
        ("category=seo", ["Missing meta description", "Sitemap found"]),
        ("category=seo&severity=info", ["Sitemap found"]),
        ("q=CONSENT", ["Tracking before consent"]),
        ("q=100%25_", ["Sitemap found"]),  # LIKE wildcards are searched for literally
        ("q=no+such+thing", []),
        ("change=recurring", ["Missing security header 0", "Missing security header 1000"]),
        ("change=new&category=security&severity=high", ["Exposed admin panel"]),
        ("sort=title&severity=", None),
    ],
)
def test_filters_narrow_the_scan_detail(varied, login, query, expected):
    page = login("member@acme.test").get(f"/scan-runs/{varied.id}?{query}")
    assert page.status_code == 200
    titles = _titles(page.text)
    if expected is None:  # a sort: every finding, alphabetically
        assert titles == sorted(titles) and len(titles) == 6
    else:
        assert sorted(titles) == sorted(expected)


def test_default_sort_is_most_severe_first(varied, login):
    titles = _titles(login("member@acme.test").get(f"/scan-runs/{varied.id}").text)
    severities = [db.session.scalars(select_severity(title, varied.id)).first() for title in titles]
    ranks = {"high": 0, "medium": 1, "low": 2, "info": 3}
    assert [ranks[s] for s in severities] == sorted(ranks[s] for s in severities)


def select_severity(title: str, run_id: int):
    from sqlalchemy import select

    return select(Issue.severity).where(Issue.title == title, Issue.scan_run_id == run_id)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("severity=critical", "severity: Must be one of"),
        ("category=Seo", "category: Must be one of"),
        ("change=resolved", "change: Must be one of"),
        ("triage=ignored", "triage: Must be one of"),
        ("sort=id;drop", "sort: Must be one of"),
        ("q=" + "x" * 201, "q: Longer than maximum length"),
        ("q=%00", "q: Must not contain NUL"),
    ],
)
@pytest.mark.parametrize("path", ["/scan-runs/{run}", "/scan-runs/{run}/report"])
def test_bad_filter_values_are_explained(varied, login, query, message, path):
    page = login("member@acme.test").get(path.format(run=varied.id) + "?" + query)
    assert page.status_code == 400
    assert "Some filters were not understood" in page.text and message in page.text
    # The rest of the page still works: the findings are listed unfiltered.
    assert page.text.count('class="issue ') >= 1


def test_bad_filter_values_on_exports_are_400(varied, login):
    client = login("member@acme.test")
    assert client.get(f"/scan-runs/{varied.id}/issues.csv?severity=x").status_code == 400
    assert client.get(f"/scan-runs/{varied.id}/report/print?sort=x").status_code == 400


def test_a_page_past_the_end_says_so(varied, login):
    client = login("member@acme.test")
    page = client.get(f"/scan-runs/{varied.id}?issues_page=99")
    assert page.status_code == 200
    assert "There is no page 99 of findings: showing page 1, the last one." in page.text
    assert page.text.count('class="issue ') == 6
    report = client.get(f"/scan-runs/{varied.id}/report?page=99")
    assert "There is no page 99 of findings" in report.text
    assert report.text.count('class="issue ') == 6


def test_pager_links_keep_the_filters(tenants, make_run, post_result, login):
    run = make_run(tenants.project)
    post_result(payloads.completed(run.id, [payloads.issue(n, "low") for n in range(60)]))
    page = login("member@acme.test").get(f"/scan-runs/{run.id}?severity=low&sort=title&x=1")
    assert f'href="/scan-runs/{run.id}?severity=low&amp;sort=title&amp;issues_page=2"' in page.text


HOSTILE = [
    "pages_page=2&scan_run_id=1",
    "scan_run_id=999&project_id=999",
    "endpoint=auth.logout",
    "_method=DELETE",
    "_anchor=evil-anchor",
    "_external=1&_scheme=javascript",
    "_external=1&_anchor=x&endpoint=y&values=z&page=2",
    "issues_page=2&pages_page=99999999999&page=-1",
    "issues_page=%C2%B2&page=%EF%BC%91",
    "severity=high&severity=low",
    "q=%3Cscript%3Ealert(1)%3C/script%3E",
    "next=//evil.example&return=javascript:alert(1)",
]


def _hostile_queries(seed: int = 12, count: int = 12) -> list[str]:
    """The fixed list plus random mixtures of its parameters."""
    parts = [part for query in HOSTILE for part in query.split("&")]
    rng = random.Random(seed)
    mixed = ["&".join(rng.sample(parts, rng.randint(2, 6))) for _ in range(count)]
    return HOSTILE + mixed


PAGES = [
    "/projects",
    "/projects/{project}",
    "/scan-runs/{run}",
    "/scan-runs/{run}/report",
    "/scan-runs/{run}/report/print",
    "/scan-runs/{run}/issues.csv",
    "/docs/",
    "/docs/errors",
    "/login",
]


@pytest.mark.parametrize("path", PAGES)
def test_query_parameters_never_break_or_leak_into_links(tenants, login, web, path):
    client = web() if path == "/login" else login("member@acme.test")
    url = path.format(project=tenants.project.id, run=tenants.run.id)
    for query in _hostile_queries():
        response = client.get(f"{url}?{query}")
        assert response.status_code < 500, (url, query)
        assert response.status_code in (200, 400), (url, query, response.status_code)
        links = re.findall(r'(?:href|action|src)="([^"]*)"', response.text)
        for link in links:
            assert "evil" not in link and "javascript" not in link, (url, query, link)
            assert not link.startswith("http"), (url, query, link)
            assert "_method" not in link and "endpoint=" not in link, (url, query, link)
            assert "scan_run_id" not in link and "project_id" not in link, (url, query, link)
