"""``flask demo``: the printed login lands on a populated report."""

from __future__ import annotations

import json
import re


def test_demo_login_lands_on_a_populated_report(runner, web):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(info) >= {"organizationId", "projectId", "scanRunId", "login", "report"}
    again = json.loads(runner.invoke(args=["demo"]).stdout.strip().splitlines()[-1])
    assert again == info  # a second run reports the same data instead of duplicating it

    client = web()
    response = client.post(
        info["login"]["url"],
        data={
            "email": info["login"]["email"],
            "password": info["login"]["password"],
            "csrf_token": client.csrf_token(),
        },
    )
    assert response.status_code == 302
    report = client.get(info["report"])
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
