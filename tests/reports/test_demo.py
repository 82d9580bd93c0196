"""``flask demo``: the printed login lands on a populated report."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit


def test_demo_login_lands_on_a_populated_report(runner, web):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(info) >= {"organizationId", "projectId", "scanRunId", "login", "report"}
    again = json.loads(runner.invoke(args=["demo"]).stdout.strip().splitlines()[-1])
    assert again == info  # a second run reports the same data instead of duplicating it

    # Links to click: full URLs under the default `flask run` address.
    assert info["login"]["url"] == "http://127.0.0.1:5000/login"
    assert re.fullmatch(r"http://127\.0\.0\.1:5000/scan-runs/\d+/report", info["report"])
    client = web()
    response = client.post(
        urlsplit(info["login"]["url"]).path,
        data={
            "email": info["login"]["email"],
            "password": info["login"]["password"],
            "csrf_token": client.csrf_token(),
        },
    )
    assert response.status_code == 302
    report = client.get(urlsplit(info["report"]).path)
    assert report.status_code == 200
    text = report.text
    assert 'id="count-new">3<' in text
    assert 'id="count-recurring">3<' in text
    assert 'id="count-resolved">1<' in text
    assert text.count('class="issue ') == 6
    for label in ("Impact", "Remediation", "Evidence", "Seen on"):
        assert f"<dt>{label}</dt>" in text
    assert "Elevated risk" in text
    detail = client.get(f"/scan-runs/{info['scanRunId']}")
    shots = re.findall(r'<img src="([^"]+)"', detail.text)
    assert len(shots) == 3
    assert all(client.get(src).mimetype == "image/png" for src in shots)


def test_demo_links_follow_the_base_url(runner):
    """`make run PORT=8000` passes --base-url, so the printed links point at that port."""
    result = runner.invoke(args=["demo", "--base-url", "http://127.0.0.1:8000/"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["login"]["url"] == "http://127.0.0.1:8000/login"
    assert info["report"] == f"http://127.0.0.1:8000/scan-runs/{info['scanRunId']}/report"


def test_make_run_port_reaches_the_server_and_the_printed_links():
    """`make run PORT=N` serves on N and prints the demo links and scanner command for N."""
    root = Path(__file__).resolve().parent.parent.parent
    commands = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert "demo --base-url http://127.0.0.1:8123" in commands
    assert "--api-url http://127.0.0.1:8123" in commands
    assert "run --port 8123" in commands
