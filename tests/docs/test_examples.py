"""Every example in the operator docs is run against the app and must answer as documented.

Each example in ``docs/scanner/examples.md`` is marked ``<!-- example: NAME setup=S -->``
and followed by a ```` ```bash ```` block (a curl command with ``-H`` headers and a body
between ``<<'JSON'`` and ``JSON``) and a ```` ```http ```` block (status line, optional
headers, JSON body). The run id ``42`` is a placeholder for a real run the test creates.
``setup`` says what state the example needs: ``queued`` (a fresh run), ``terminal`` (a
run already completed), ``unknown`` (no run), ``replay`` (the same request sent once
before) or ``rate-limited`` (the limit already used up).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import payloads
from tests.conftest import SCANNER_SECRET

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "scanner"
EXAMPLE = re.compile(
    r"<!-- example: (?P<name>[a-z-]+) setup=(?P<setup>[a-z-]+) -->\s*"
    r"```bash\n(?P<request>.*?)```\s*```http\n(?P<response>.*?)```",
    re.S,
)
HEADER = re.compile(r'-H "([^:"]+): ([^"]*)"')
BODY = re.compile(r"<<'JSON'\n(.*?)\nJSON", re.S)


def load_examples() -> list[dict[str, Any]]:
    """Every example of examples.md, parsed."""
    text = (DOCS / "examples.md").read_text(encoding="utf-8")
    examples = []
    for match in EXAMPLE.finditer(text):
        status_line, *lines = match["response"].split("\n")
        blank = lines.index("")
        header_lines, body = lines[:blank], "\n".join(lines[blank + 1 :])
        examples.append(
            {
                "name": match["name"],
                "setup": match["setup"],
                "headers": dict(HEADER.findall(match["request"])),
                "body": BODY.search(match["request"])[1],
                "status": int(status_line.split()[1]),
                "response_headers": dict(line.split(": ", 1) for line in header_lines),
                "response": json.loads(body),
            }
        )
    return examples


EXAMPLES = load_examples()


def test_the_docs_have_every_case():
    names = {example["name"] for example in EXAMPLES}
    assert names >= {
        "completed-single", "completed-multi", "failed", "unauthorized", "validation-failed",
        "scan-run-not-found", "duplicate", "idempotent-replay", "rate-limited",
    }  # fmt: skip
    statuses = {example["status"] for example in EXAMPLES}
    assert statuses >= {202, 401, 422, 429}


def same_shape(documented: Any, actual: Any, path: str = "") -> None:
    """Same keys all the way down; error codes and statuses equal."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), path
        assert set(documented) == set(actual), (path, set(documented) ^ set(actual))
        for key in documented:
            if key in ("code", "status", "duplicate", "pagesStored", "issuesStored"):
                assert documented[key] == actual[key], f"{path}.{key}"
            if path.endswith("fields"):
                continue  # field messages are compared as a set of paths above
            same_shape(documented[key], actual[key], f"{path}.{key}")


@pytest.fixture
def app_overrides(request):
    example = request.getfixturevalue("example")
    return {"SCANNER_RATE_LIMIT": "1/minute"} if example["setup"] == "rate-limited" else {}


@pytest.mark.parametrize("example", EXAMPLES, ids=[example["name"] for example in EXAMPLES])
def test_documented_example_answers_as_documented(client, make_run, example):
    run = make_run()
    body = example["body"]
    if example["setup"] != "unknown":
        body = body.replace('"scanRunId": 42', f'"scanRunId": {run.id}').replace(
            "scan-runs/42/", f"scan-runs/{run.id}/"
        )
    headers = {
        name: value.replace("$WRO_SCANNER_SHARED_SECRET", SCANNER_SECRET)
        for name, value in example["headers"].items()
    }
    send = lambda data: client.post("/api/scanner/results", data=data, headers=headers)  # noqa: E731
    if example["setup"] == "terminal":
        first = payloads.completed(run.id, [payloads.issue(1, "medium")])
        client.post("/api/scanner/results", data=orjson.dumps(first), headers=headers)
    if example["setup"] in ("replay", "rate-limited"):
        send(body.encode())

    response = send(body.encode())

    assert response.status_code == example["status"], response.get_data(as_text=True)
    actual = response.get_json()
    same_shape(example["response"], actual)
    documented_fields = example["response"].get("error", {}).get("fields")
    if documented_fields is not None:
        assert documented_fields == actual["error"]["fields"]
    for name, value in example["response_headers"].items():
        assert name in response.headers, name
        if name == "Idempotent-Replayed":
            assert response.headers[name] == value
