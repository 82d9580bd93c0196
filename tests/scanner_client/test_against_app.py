"""The reference client against the real app (gunicorn): the documented payload, end to end.

The scripted server in test_client.py pins the retry policy; this pins that what the
client sends (gzip, its generated key) is what WebRiskOps accepts, and that its exit
statuses match the app's real answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import SCANNER_SECRET
from tests.docs.test_examples import EXAMPLES
from webriskops.scanner_client import (
    ACCEPTED,
    INVALID,
    UNAUTHORIZED,
    USAGE,
    post_results,
    scanner,
)


def test_client_posts_the_documented_payload_to_the_app(
    app, serve, database_url, artifacts_dir, make_run, tmp_path, monkeypatch
):
    run = make_run()
    base_url = serve(
        {
            "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgres://"),
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            "WRO_ARTIFACTS_DIR": str(artifacts_dir),
        },
        workers=1,
    )
    example = next(example for example in EXAMPLES if example["name"] == "completed-single")
    body = example["body"].replace('"scanRunId": 42', f'"scanRunId": {run.id}')
    body = body.replace("scan-runs/42/", f"scan-runs/{run.id}/")
    path = tmp_path / "result.json"
    path.write_text(body)
    monkeypatch.setenv("WRO_SCANNER_SHARED_SECRET", SCANNER_SECRET)
    post = ["post", str(path), "--url", base_url, "--max-attempts", "1"]

    first = CliRunner().invoke(scanner, post)

    assert first.exit_code == ACCEPTED, first.output
    answer = json.loads(first.stdout)
    assert (answer["scanRunId"], answer["duplicate"]) == (run.id, False)
    assert answer["issuesStored"] == example["response"]["issuesStored"]

    replay = post_results(base_url, body.encode(), SCANNER_SECRET, idempotency_key="k-1")
    assert (replay.exit_code, replay.body["duplicate"]) == (ACCEPTED, True)
    again = post_results(base_url, body.encode(), SCANNER_SECRET, idempotency_key="k-1")
    assert again.body == replay.body  # replayed, byte for byte the same answer

    wrong_secret = post_results(base_url, body.encode(), "not-the-secret", max_attempts=1)
    assert (wrong_secret.exit_code, wrong_secret.status) == (UNAUTHORIZED, 401)
    invalid = post_results(base_url, b'{"scanRunId": "x"}', SCANNER_SECRET, max_attempts=1)
    assert (invalid.exit_code, invalid.body["error"]["code"]) == (INVALID, "VALIDATION_FAILED")


def test_console_script_runs_the_client(tmp_path):
    script = Path(sys.executable).with_name("webriskops-scanner")
    assert script.exists(), "pip install -e . declares the console script"
    env = {"PATH": os.environ.get("PATH", ""), "WRO_SCANNER_SHARED_SECRET": "placeholder"}
    missing = tmp_path / "missing.json"
    result = subprocess.run(
        [str(script), "post", str(missing), "--url", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == USAGE, result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "USAGE"
