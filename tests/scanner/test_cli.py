"""``webriskops-scanner demo-site`` serves the demo site; ``work`` refuses bad settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("webriskops-scanner")


def test_demo_site_command_serves_the_site():
    with subprocess.Popen(
        [str(SCRIPT), "demo-site", "--port", "0"], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            announced = json.loads(process.stdout.readline())
            with urllib.request.urlopen(announced["url"] + "login", timeout=10) as answer:  # noqa: S310
                assert answer.status == 200
                assert "sessionid=" in answer.headers["Set-Cookie"]
            assert "password-form" in announced["planted"]
        finally:
            process.terminate()
            process.wait(10)


def test_work_refuses_to_start_without_a_secret():
    env = {"PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [str(SCRIPT), "work", "--api-url", "http://127.0.0.1:1", "--once"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 5
    assert "WRO_SCANNER_SHARED_SECRET" in json.loads(result.stdout)["error"]["message"]
