"""Every example in the operator docs is run against the app and must answer as documented.

The format, in any page of ``webriskops/docs/scanner``: a marker ``<!-- example: NAME setup=S -->``,
then a ```` ```bash ```` block and a ```` ```http ```` block.

- The bash block is a curl command to ``"$WRO_URL/<path>"``: its lines up to the first
  one not ending in ``\\``, with one ``-H "Name: value"`` per header, then the JSON
  body as a heredoc (the lines up to ``JSON``), read by curl (``--data @- <<'JSON'``)
  or by ``gzip -c <<'JSON' |`` in front of it, in which case the test gzips the body
  too. A command without a heredoc sends no body.
- The http block is the answer: a status line, headers, a blank line, the JSON body.

The run id ``42`` is a placeholder for a real run the test creates and
``$WRO_SCANNER_SHARED_SECRET`` one for the test app's secret. ``setup`` says what state
the example needs: ``queued`` (a fresh run), ``terminal`` (a run already completed),
``unknown`` (no such run), ``replay`` (the same request sent once before),
``key-reused`` (the same key sent once before with another body), ``rate-limited``
(a limit of one postback a minute, already used), ``claimable`` (a fresh run, nothing
else queued), ``claimed`` (the run claimed with a 300-second lease) or
``lease-expired`` (claimed, and its lease ran out).

Checked: the status; the body's keys all the way down; error codes, ``status``,
``duplicate`` and the stored counts equal; field-error paths and messages equal; and the
rate-limit and replay headers present exactly when documented, their values of the
documented form (digits may differ).
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import payloads
from tests.conftest import SCANNER_SECRET

DOCS = Path(__file__).resolve().parent.parent.parent / "webriskops" / "docs" / "scanner"
MARKER = re.compile(r"<!-- example: (?P<name>[a-z0-9-]+) setup=(?P<setup>[a-z-]+) -->")
EXAMPLE = re.compile(
    MARKER.pattern + r"\n```bash\n(?P<request>.*?)```\s*```http\n(?P<response>.*?)```", re.S
)
CURL_BLOCK = re.compile(r"```bash\n(?:(?!```).)*\bcurl\b", re.S)
HEADER = re.compile(r'-H "([^:"]+): ([^"]*)"')
SETUPS = {
    "queued", "terminal", "unknown", "replay", "key-reused", "rate-limited",
    "claimable", "claimed", "lease-expired",
}  # fmt: skip
URL = re.compile(r'"\$WRO_URL(/[^"]+)"')
# Headers whose presence the docs promise; compared both ways.
TRACKED_HEADERS = {"ratelimit-policy", "ratelimit", "retry-after", "idempotent-replayed"}
EXACT_KEYS = {"code", "status", "duplicate", "pagesStored", "issuesStored", "scanRunId"}


def parse_request(block: str) -> dict[str, Any]:
    """The headers, body and compression of a documented curl command."""
    lines = block.rstrip("\n").split("\n")
    end = next(i for i, line in enumerate(lines) if not line.endswith("\\"))
    command, rest = "\n".join(lines[: end + 1]), lines[end + 1 :]
    if "<<'JSON'" in command:
        assert rest and rest[-1] == "JSON", "the body must be a JSON heredoc"
    else:
        assert not rest, "a command without a body ends with its last line"
    return {
        "command": block,
        "path": URL.search(command)[1],
        "headers": dict(HEADER.findall(command)),
        "body": "\n".join(rest[:-1]),
        "gzip": command.startswith("gzip -c <<'JSON' | curl "),
    }


def parse_response(block: str) -> dict[str, Any]:
    """The status, headers and JSON body of a documented answer."""
    status_line, *lines = block.rstrip("\n").split("\n")
    blank = lines.index("")
    return {
        "status": int(status_line.split()[1]),
        "response_headers": dict(line.split(": ", 1) for line in lines[:blank]),
        "response": json.loads("\n".join(lines[blank + 1 :])),
    }


def load_examples() -> list[dict[str, Any]]:
    """Every example of every page, parsed."""
    examples = []
    for path in sorted(DOCS.glob("*.md")):
        for match in EXAMPLE.finditer(path.read_text(encoding="utf-8")):
            examples.append(
                {
                    "page": path.name,
                    "name": match["name"],
                    "setup": match["setup"],
                    **parse_request(match["request"]),
                    **parse_response(match["response"]),
                }
            )
    return examples


EXAMPLES = load_examples()


def test_the_docs_have_every_case():
    names = [example["name"] for example in EXAMPLES]
    assert len(names) == len(set(names)), "example names must be unique"
    assert set(names) >= {
        "completed-single", "completed-multi", "failed", "unauthorized", "validation-failed",
        "scan-run-not-found", "duplicate", "idempotent-replay", "idempotency-key-reused",
        "rate-limited",
    }  # fmt: skip
    assert {example["status"] for example in EXAMPLES} >= {202, 401, 422, 429}
    assert {example["setup"] for example in EXAMPLES} == SETUPS


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.md")), ids=lambda path: path.name)
def test_no_example_escapes_the_test(path):
    """A curl block without a well-formed marker would silently go untested."""
    text = path.read_text(encoding="utf-8")
    parsed = [example for example in EXAMPLES if example["page"] == path.name]
    assert len(MARKER.findall(text)) == len(parsed), "a marker is not followed by bash + http"
    assert len(CURL_BLOCK.findall(text)) == len(parsed), "a curl block has no example marker"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("example", EXAMPLES, ids=[example["name"] for example in EXAMPLES])
def test_example_is_valid_bash(example):
    """Copyable means it parses: ``bash -n`` reads it without running anything."""
    checked = subprocess.run(
        ["bash", "-n"], input=example["command"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def same_shape(documented: Any, actual: Any, path: str = "") -> None:
    """Same keys all the way down; codes, statuses and stored counts equal."""
    if isinstance(documented, list) and documented and isinstance(documented[0], dict):
        assert isinstance(actual, list) and len(actual) == len(documented), path
        for index, item in enumerate(documented):
            same_shape(item, actual[index], f"{path}.{index}")
        return
    if not isinstance(documented, dict):
        return
    assert isinstance(actual, dict), path
    assert set(documented) == set(actual), (path, set(documented) ^ set(actual))
    for key in documented:
        if key in EXACT_KEYS and key != "scanRunId":
            assert documented[key] == actual[key], f"{path}.{key}"
        if path != ".error" or key != "fields":  # field errors are compared whole below
            same_shape(documented[key], actual[key], f"{path}.{key}")


def header_form(value: str) -> re.Pattern[str]:
    """The documented header value with every number generalized."""
    return re.compile(r"\d+".join(re.escape(part) for part in re.split(r"\d+", value)))


@pytest.fixture
def app_overrides(request):
    example = request.getfixturevalue("example")
    return {"SCANNER_RATE_LIMIT": "1/minute"} if example["setup"] == "rate-limited" else {}


@pytest.mark.parametrize("example", EXAMPLES, ids=[example["name"] for example in EXAMPLES])
def test_documented_example_answers_as_documented(client, make_run, example):
    from webriskops.scans.services import claim_runs

    run = make_run()
    body = example["body"]
    path = example["path"].replace("/42/", f"/{run.id}/")
    if example["setup"] in ("claimed", "lease-expired"):
        claim_runs(1, 300)
    if example["setup"] == "lease-expired":
        from tests.scans.conftest import expire_lease

        expire_lease(run.id)
    if path == "/api/scanner/results" and example["setup"] != "unknown":
        assert '"scanRunId": 42' in body, "examples post for the placeholder run 42"
        body = body.replace('"scanRunId": 42', f'"scanRunId": {run.id}')
        body = body.replace("scan-runs/42/", f"scan-runs/{run.id}/")
    data = gzip.compress(body.encode()) if example["gzip"] else body.encode()
    headers = {
        name: value.replace("$WRO_SCANNER_SHARED_SECRET", SCANNER_SECRET)
        for name, value in example["headers"].items()
    }
    if example["setup"] in ("terminal", "key-reused"):
        first = payloads.completed(run.id, [payloads.issue(1, "medium")])
        client.post("/api/scanner/results", data=orjson.dumps(first), headers=headers)
    if example["setup"] in ("replay", "rate-limited"):
        client.post("/api/scanner/results", data=data, headers=headers)

    response = client.post(path, data=data or None, headers=headers)

    assert response.status_code == example["status"], response.get_data(as_text=True)
    actual = response.get_json()
    same_shape(example["response"], actual)
    if "scanRunId" in actual:
        assert actual["scanRunId"] == run.id
    for claimed in actual.get("runs", []):
        assert (claimed["scanRunId"], claimed["artifactPrefix"]) == (run.id, f"scan-runs/{run.id}/")
    documented_fields = example["response"].get("error", {}).get("fields")
    if documented_fields is not None:
        assert documented_fields == actual["error"]["fields"]
    documented_headers = example["response_headers"]
    documented_names = {name.lower() for name in documented_headers}
    actual_names = {name.lower() for name in response.headers.keys()}  # noqa: SIM118 - Headers
    assert TRACKED_HEADERS & documented_names == TRACKED_HEADERS & actual_names
    for name, value in documented_headers.items():
        assert header_form(value).fullmatch(response.headers[name]), (name, value)
