"""The operator pages are served without login, link to each other and document every code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.docs.test_examples import DOCS

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = [
    "index",
    "authentication",
    "runtime",
    "examples",
    "errors",
    "scan-detail",
    "report-workflow",
]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_served_without_login(client, name):
    response = client.get(f"/docs/{name}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1" in html
    assert "http://" not in html.split("<main")[0]  # nothing loaded from elsewhere
    for target in re.findall(r'href="([a-z-]+)(?:#[^"]*)?"', html):
        assert client.get(f"/docs/{target}").status_code == 200, target


def test_index_and_unknown_pages(client):
    assert "Scanner operator guide" in client.get("/docs/").get_data(as_text=True)
    assert client.get("/docs/no-such-page").status_code == 404
    assert client.get("/docs/..%2Fsetup").status_code == 404


def api_error_codes() -> set[str]:
    """Every code the API can answer with: ApiError(...) literals and the HTTP fallbacks."""
    codes: set[str] = set()
    for path in (ROOT / "webriskops").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ApiError":
                code = node.args[1] if len(node.args) > 1 else None
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    codes.add(code.value)
            if isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == "_HTTP_CODES" for target in node.targets
            ):
                codes.update(value.value for value in node.value.values)
    codes.add("VALIDATION_FAILED")  # raised through errors.validation_error()
    return codes


def test_every_error_code_is_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (DOCS / "errors.md").read_text()))
    codes = api_error_codes()
    assert {"UNAUTHORIZED", "SCAN_RUN_NOT_FOUND", "RATE_LIMITED", "INSUFFICIENT_CREDITS"} <= codes
    missing = codes - documented
    assert not missing, f"undocumented error codes: {sorted(missing)}"


def test_examples_use_placeholders_only():
    from webriskops.redaction import redact

    for path in DOCS.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert redact(text) == text, f"{path.name} holds something that looks like a real secret"
