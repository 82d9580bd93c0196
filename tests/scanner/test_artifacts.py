"""Artifacts: keys under the run's prefix that obey the contract, in S3 as in the local
folder; the screenshot browser reaches the site and nothing else; a storage failure
fails the run; settings from the environment.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.scanner.conftest import make_settings
from webriskops.scanner.artifacts import PNG_SIGNATURE, take_screenshot
from webriskops.scanner.runtime import scan
from webriskops.scanner.settings import ScannerSettings
from webriskops.storage import LocalStorage, create_storage

# Contract 3.3: under the run's prefix, A-Z a-z 0-9 . _ - /, no empty or ".." segment.
ARTIFACT_PATH = re.compile(r"^scan-runs/7/[A-Za-z0-9._/-]{1,500}$")


def artifact_paths(payload: dict) -> list[str]:
    return [path for entry in payload["pages"] for path in entry["artifacts"].values()]


def test_snapshots_go_to_s3_under_the_runs_prefix(demo, s3_server):
    _site, base = demo
    storage = create_storage(s3_server)
    settings = make_settings(storage=s3_server, screenshots=True, chromium="/no/such/chromium")
    run = {"scanRunId": 7, "baseUrl": base, "artifactPrefix": "scan-runs/7/"}

    payload = scan(run, settings, storage).payload

    paths = artifact_paths(payload)
    assert paths and all(ARTIFACT_PATH.match(path) for path in paths)
    assert not any(".." in path.split("/") or "//" in path for path in paths)
    stored = set(storage.list("scan-runs/7/"))
    snapshots = {e["artifacts"]["htmlSnapshotPath"] for e in payload["pages"]}
    assert snapshots == stored  # every snapshot uploaded, nothing else
    assert b"<h1>Demo shop</h1>" in storage.get(
        payload["pages"][0]["artifacts"]["htmlSnapshotPath"]
    )
    # No browser: the screenshot key is the placeholder, never written.
    for entry in payload["pages"]:
        assert entry["artifacts"]["screenshotPath"].endswith("/screenshot-unavailable.png")


def test_a_storage_failure_fails_the_run(demo, storage_dir):
    class Broken(LocalStorage):
        def put(self, key: str, data: bytes, content_type: str = "") -> None:
            raise OSError("disk full")

    _site, base = demo
    payload = scan({"scanRunId": 7, "baseUrl": base}, make_settings(), Broken(storage_dir)).payload

    assert payload["status"] == "failed"
    assert payload["error"]["code"] == "ARTIFACT_UPLOAD_FAILED"


@pytest.mark.skipif(shutil.which("/usr/bin/chromium") is None, reason="needs Chromium")
def test_the_screenshot_browser_reaches_the_site_and_nothing_else(scripted_site):
    site, other = scripted_site(), scripted_site()
    other_port = other.base_url.rsplit(":", 1)[1].strip("/")
    site.page(
        "/",
        f'<h1>Hello</h1><img src="{other.base_url}x.png" alt="x">'
        f'<img src="http://localhost:{other_port}/y.png" alt="y">'
        '<img src="http://example.com/z.png" alt="z"><img src="/logo.png" alt="logo">',
    )

    shot = take_screenshot(site.base_url, "127.0.0.1", make_settings())

    assert shot is not None and shot.startswith(PNG_SIGNATURE)
    assert "/" in site.paths and "/logo.png" in site.paths
    assert other.requests == []


def test_settings_from_the_environment():
    settings = ScannerSettings.from_env(
        {
            "WRO_SCANNER_SHARED_SECRET": "scanner-secret-value",
            "WRO_SCANNER_ALLOW_PRIVATE": "1",
            "WRO_SCANNER_MAX_PAGES": "7",
            "WRO_S3_ENDPOINT": "minio:9000",
            "WRO_S3_SECURE": "0",
        },
        api_url="http://wro.example",
        max_depth=None,
    )
    assert (settings.secret, settings.allow_private, settings.max_pages) == (
        "scanner-secret-value",
        True,
        7,
    )
    assert (settings.api_url, settings.max_depth) == ("http://wro.example", 3)
    assert settings.storage["S3_ENDPOINT"] == "minio:9000"
    assert settings.storage["S3_SECURE"] is False
    assert "scanner-secret-value" not in repr(settings)  # never in a log line
    with pytest.raises(ValueError, match="WRO_SCANNER_ALLOW_PRIVATE"):
        ScannerSettings.from_env({"WRO_SCANNER_ALLOW_PRIVATE": "maybe"})
    with pytest.raises(ValueError, match="WRO_SCANNER_MAX_PAGES"):
        ScannerSettings.from_env({"WRO_SCANNER_MAX_PAGES": "0"})
