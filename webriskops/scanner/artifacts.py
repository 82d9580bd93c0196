"""Artifacts of a run: the HTML snapshot of every page and, with Chromium, a screenshot.

Keys live under the run's ``artifactPrefix`` (``scan-runs/<id>/``) and obey the
contract's path rules (3.3): ``scan-runs/<id>/pages/<n>-<slug>/snapshot.html`` and
``…/screenshot.png``. They go to the storage the app reads (``webriskops.storage``: S3
through the minio SDK, or the local folder).

Screenshots come from headless Chromium run as a subprocess with a time limit. The
browser may load the page's own origin only, at the address the scanner checked: every
other request goes to a proxy that does not exist, so a page cannot make the scanner's
browser reach another host (or a private address) through its images, scripts or
frames. Without Chromium, or when it fails, no screenshot is uploaded and the page's
``screenshotPath`` names ``…/screenshot-unavailable.png``, a key that is never written:
the scan detail page then shows the image as missing (the field is required).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from webriskops.scanner.settings import ScannerSettings
from webriskops.storage import ObjectStorage

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UNAVAILABLE = "screenshot-unavailable.png"
# A closed port on loopback: requests for other hosts fail at once instead of leaving.
DEAD_PROXY = "http://127.0.0.1:9"


def page_prefix(artifact_prefix: str, index: int, url: str) -> str:
    """``scan-runs/<id>/pages/<n>-<slug>/`` for the ``index``-th page of a run."""
    path = urlsplit(url).path.strip("/")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path).strip("-.")[:60].strip("-.") or "home"
    return f"{artifact_prefix.rstrip('/')}/pages/{index:03d}-{slug}/"


def chromium_available(settings: ScannerSettings) -> bool:
    """True when screenshots are on and the Chromium binary is there."""
    return settings.screenshots and bool(shutil.which(settings.chromium))


def take_screenshot(url: str, address: str | None, settings: ScannerSettings) -> bytes | None:
    """A PNG of ``url`` from headless Chromium, or None when it fails or takes too long."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with tempfile.TemporaryDirectory(prefix="wro-shot-") as folder:
        output = Path(folder) / "shot.png"
        # Only the site's host:port bypasses the dead proxy; <-loopback> withdraws
        # Chromium's built-in bypass for localhost so other local ports stay out of reach.
        bypass = f"<-loopback>;{host}:{port}" if ":" not in host else "<-loopback>"
        if address and host and address != host:
            # Pin the name to the address the scanner checked (no second DNS answer).
            rules = f"MAP {host} {address}, MAP * ~NOTFOUND"
        else:  # an address literal: every other name stays unresolved
            rules = f"MAP * ~NOTFOUND, EXCLUDE {host}"
        command = [
            settings.chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--mute-audio",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-quic",
            f"--user-data-dir={Path(folder) / 'profile'}",
            f"--proxy-server={DEAD_PROXY}",
            f"--proxy-bypass-list={bypass}",
            f"--host-resolver-rules={rules}",
            "--window-size=1280,800",
            f"--timeout={int(settings.screenshot_timeout * 1000 * 0.6)}",
            f"--screenshot={output}",
            url,
        ]
        try:
            subprocess.run(  # noqa: S603 - a fixed binary with arguments we built
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=settings.screenshot_timeout,
                check=False,
                env={**os.environ, "HOME": folder},
            )
        except (subprocess.TimeoutExpired, OSError) as error:
            log.warning("screenshot of a page failed: %s", type(error).__name__)
            return None
        try:
            data = output.read_bytes()
        except OSError:
            return None
        return data if data.startswith(PNG_SIGNATURE) else None


def checked_address(url: str, allow_private: bool) -> str | None:
    """The address the fetcher would connect to (for pinning the browser), if any."""
    # Late: importing webriskops.webhooks registers its server jobs; the runtime needs one helper.
    from webriskops.webhooks.ssrf import BlockedDestination, resolve

    try:
        return resolve(url, allow_private=allow_private).addresses[0]
    except (BlockedDestination, OSError, socket.gaierror):
        return None


def upload_page(
    storage: ObjectStorage,
    prefix: str,
    html: bytes | None,
    screenshot: bytes | None,
) -> dict[str, str]:
    """Upload a page's artifacts; returns the payload's ``artifacts`` object."""
    artifacts: dict[str, str] = {}
    if screenshot is not None:
        storage.put(prefix + "screenshot.png", screenshot, "image/png")
        artifacts["screenshotPath"] = prefix + "screenshot.png"
    else:
        artifacts["screenshotPath"] = prefix + UNAVAILABLE
    if html is not None:
        storage.put(prefix + "snapshot.html", html, "text/html; charset=utf-8")
        artifacts["htmlSnapshotPath"] = prefix + "snapshot.html"
    return artifacts
