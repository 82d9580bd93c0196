"""The operator pages are served without login, link to each other and document every code.

Error codes are collected from the source with ``ast``: the code argument of every
``ApiError(...)`` call (positional or keyword), the values of ``errors._HTTP_CODES`` and
the ``HTTP_ERROR`` fallback. Each must have a row in a table of ``errors.md`` with a
cause and a next action; those the scanner endpoint can answer must be in its own table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.docs.test_examples import DOCS
from webriskops import scanner_client
from webriskops.ratelimit import RateLimitState, ScannerRateLimiter
from webriskops.scanner.settings import USER_AGENT

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = sorted(path.stem for path in DOCS.glob("*.md"))
# The modules a scanner postback runs through, whose ApiError codes it can answer with.
SCANNER_MODULES = ["webriskops/ingest", "webriskops/auth/scanner.py", "webriskops/errors.py"]
# Statuses werkzeug or the app itself can give a scanner postback, mapped by _HTTP_CODES.
# 400: a request werkzeug cannot parse (its framing or headers).
SCANNER_HTTP_STATUSES = {400, 404, 405, 413, 415, 422, 429, 500, 503}
# errors.py answers these, but never on /api/: the CSRF rule exempts every /api/ path.
NOT_SCANNER_CODES = {"CSRF_FAILED"}
ROW = re.compile(r"^\|(.+)\|$", re.M)
CODE_CELL = re.compile(r"^`([A-Z][A-Z0-9_]+)`$")


def test_the_product_page_companions_exist():
    assert {"index", "authentication", "runtime", "examples", "errors"} <= set(PAGES)
    assert {"scan-detail", "report-workflow"} <= set(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_served_without_login_and_its_links_resolve(client, name):
    response = client.get(f"/docs/{name}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h1" in html
    head = html.split("<main")[0]
    assert not re.search(r'(?:href|src)="(?:https?:)?//', head), "load nothing from elsewhere"
    assert "/static/docs.css" in head
    for target, anchor in re.findall(r'href="([a-z-]+)(?:#([^"]*))?"', html):
        linked = client.get(f"/docs/{target}")
        assert linked.status_code == 200, target
        if anchor:
            assert f'id="{anchor}"' in linked.get_data(as_text=True), f"{target}#{anchor}"
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{anchor}"' in html, anchor


def test_stylesheet_is_self_contained(client):
    with client.get("/static/docs.css") as css:
        assert css.status_code == 200
        assert not re.search(r"@import|url\(", css.get_data(as_text=True))


def test_index_and_unknown_pages(client):
    index = client.get("/docs/").get_data(as_text=True)
    assert "Scanner operator guide" in index
    for name in ("authentication", "runtime", "examples", "errors"):
        assert f'href="{name}"' in index
    assert client.get("/docs/no-such-page").status_code == 404
    assert client.get("/docs/..%2Fsetup").status_code == 404


def _codes_in(path: Path) -> set[str]:
    codes: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ApiError":
            arguments = node.args[1:2] + [k.value for k in node.keywords if k.arg == "code"]
            codes.update(
                a.value
                for a in arguments
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            )
    return codes


def _python_files(relative: str) -> list[Path]:
    path = ROOT / relative
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def http_codes() -> dict[int, str]:
    """``errors._HTTP_CODES`` as the source spells it."""
    tree = ast.parse((ROOT / "webriskops" / "errors.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            getattr(target, "id", None) == "_HTTP_CODES" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("errors._HTTP_CODES not found")


def api_error_codes() -> set[str]:
    """Every code the API can answer with."""
    codes = set(http_codes().values()) | {"HTTP_ERROR"}
    for path in _python_files("webriskops"):
        codes |= _codes_in(path)
    return codes


def scanner_error_codes() -> set[str]:
    """The codes ``POST /api/scanner/results`` can answer with."""
    codes = {code for status, code in http_codes().items() if status in SCANNER_HTTP_STATUSES}
    for module in SCANNER_MODULES:
        for path in _python_files(module):
            codes |= _codes_in(path)
    return codes - NOT_SCANNER_CODES


def documented_rows() -> list[dict[str, str]]:
    """The rows of every error table in errors.md, by column name."""
    rows = []
    for table in re.split(r"\n\s*\n", (DOCS / "errors.md").read_text(encoding="utf-8")):
        lines = [m.group(1) for m in ROW.finditer(table)]
        if len(lines) < 3 or "`error.code`" not in lines[0]:
            continue
        names = [cell.strip() for cell in lines[0].split("|")]
        for line in lines[2:]:
            cells = [cell.strip() for cell in line.split("|")]
            rows.append({**dict(zip(names, cells, strict=True)), "table": lines[0]})
    return rows


def test_the_collectors_find_what_we_know_is_there():
    codes, scanner_codes = api_error_codes(), scanner_error_codes()
    assert {"UNAUTHORIZED", "SCAN_RUN_NOT_FOUND", "RATE_LIMITED", "INSUFFICIENT_CREDITS"} <= codes
    assert {"IDEMPOTENCY_CONFLICT", "MALFORMED_JSON", "VALIDATION_FAILED"} <= scanner_codes
    assert "INSUFFICIENT_CREDITS" not in scanner_codes


def test_every_error_code_has_a_cause_and_a_next_action():
    documented = {}
    for row in documented_rows():
        match = CODE_CELL.match(row["`error.code`"])
        assert match, row
        assert row["cause"] and row["next action"], row
        documented.setdefault(match[1], []).append(row)
    missing = api_error_codes() - set(documented)
    assert not missing, f"undocumented error codes: {sorted(missing)}"


def test_every_scanner_error_code_is_in_the_scanner_table():
    rows = documented_rows()
    scanner_table = rows[0]["table"]
    in_scanner_table = {
        CODE_CELL.match(row["`error.code`"])[1] for row in rows if row["table"] == scanner_table
    }
    missing = scanner_error_codes() - in_scanner_table
    assert not missing, f"missing from the scanner endpoint's table: {sorted(missing)}"


def test_documented_retry_advice_is_what_the_client_does():
    rows = [row for row in documented_rows() if "retry?" in row]
    assert rows
    for row in rows:
        assert row["retry?"] in ("yes", "no"), row
        assert (int(row["status"]) in scanner_client.RETRYABLE) == (row["retry?"] == "yes"), row


def test_documented_exit_statuses_are_the_clients():
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    documented = {int(code) for code in re.findall(r"^\| `(\d+)` \|", text, re.M)}
    constants = {"ACCEPTED", "INVALID", "UNAUTHORIZED", "GAVE_UP", "USAGE"}
    assert documented == {getattr(scanner_client, name) for name in constants}


def test_documented_rate_limit_headers_are_the_limiters():
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    policy = re.search(r"^RateLimit-Policy: (.+)$", text, re.M)[1]
    state = re.search(r"^RateLimit: (.+)$", text, re.M)[1]
    limiter = ScannerRateLimiter("600/minute", None)  # the default WRO_SCANNER_RATE_LIMIT
    assert policy == limiter.policy
    remaining, reset = map(int, re.fullmatch(r'"scanner";r=(\d+);t=(\d+)', state).groups())
    headers = RateLimitState(False, 600, remaining, reset).headers(limiter.policy)
    assert headers["RateLimit"] == state
    assert headers["Retry-After"] == str(reset)


def test_examples_use_placeholders_only():
    from webriskops.redaction import redact

    for path in DOCS.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert redact(text) == text, f"{path.name} holds something that looks like a real secret"


def test_the_scanner_user_agent_links_to_a_served_page(client):
    link = re.search(r"\+https?://[^/]+(/[^)\s]*)\)", USER_AGENT)
    assert link, USER_AGENT
    assert client.get(link.group(1)).status_code == 200
