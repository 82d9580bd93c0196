"""Demo data: an organization, a project, a user and two completed scans to compare.

The scans go through the same service as a real postback, so the demo shows exactly
what a scanner's result looks like once stored, redacted and reported.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from sqlalchemy import select

from webriskops.auth.passwords import hash_password
from webriskops.extensions import db
from webriskops.ingest.service import ingest_result
from webriskops.jobs import outbox
from webriskops.models import Membership, Organization, Project, ScanRun, User, grant_credits
from webriskops.reports.services import create_scan_run
from webriskops.storage import storage

DEMO_EMAIL = "demo@webriskops.test"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo login, not a secret

_ISSUES = {
    "hsts": ("security", "missing-hsts", "medium", "Strict-Transport-Security header missing"),
    "cookie": ("security", "insecure-cookie", "high", "Session cookie without Secure flag"),
    "alt": ("accessibility", "img-missing-alt", "low", "Images without alternative text"),
    "mixed": ("security", "mixed-content", "high", "Mixed content on checkout page"),
    "slow": ("performance", "slow-page", "low", "Page takes over 3 s to load"),
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, for demo screenshots."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _issue(key: str, evidence: str = "") -> dict[str, Any]:
    category, kind, severity, title = _ISSUES[key]
    return {
        "category": category,
        "type": kind,
        "severity": severity,
        "title": title,
        "description": f"{title}. Found by the demo scanner.",
        "fingerprint": f"demo:{kind}:0001",
        "confidence": 90,
        "evidence": evidence or f"{kind} observed",
        "businessImpact": "Attackers or users could be affected on this page.",
        "suggestedRemediation": "See the remediation guide for " + kind + ".",
        "reproductionSteps": ["Open the page", "Inspect the response"],
    }


def _post(run: ScanRun, issue_keys: list[list[str]]) -> None:
    store = storage()
    pages = []
    for index, keys in enumerate(issue_keys):
        prefix = f"scan-runs/{run.id}/page-{index}"
        store.put(
            f"{prefix}/screenshot.png", png(320, 200, (40 + 60 * index, 90, 160)), "image/png"
        )
        store.put(
            f"{prefix}/snapshot.html",
            b"<html><body><h1>Demo page</h1>"
            b"<script>var key='AKIAIOSFODNN7EXAMPLE';</script></body></html>",
            "text/html",
        )
        url = f"https://shop.example.com/{['', 'checkout', 'login'][index % 3]}"
        pages.append(
            {
                "page": {
                    "url": url,
                    "normalizedUrl": url,
                    "statusCode": 200,
                    "pageType": ["home", "checkout", "login"][index % 3],
                    "responseHeaders": {"content-type": "text/html", "server": "nginx"},
                    "title": f"Demo shop page {index}",
                    "loadTimeMs": 850 + 400 * index,
                },
                "artifacts": {
                    "screenshotPath": f"{prefix}/screenshot.png",
                    "htmlSnapshotPath": f"{prefix}/snapshot.html",
                },
                "issues": [
                    _issue(key, "Set-Cookie: sid=abc123; Path=/" if key == "cookie" else "")
                    for key in keys
                ],
            }
        )
    result = {"scanRunId": run.id, "status": "completed", "pages": pages}
    ingest_result(result, key=None, body_hash="")
    outbox.dispatch_ready()


def create_demo() -> dict[str, Any]:
    """Create the demo data once; later calls only report where it is."""
    user = db.session.scalars(select(User).where(User.email == DEMO_EMAIL)).first()
    if user is None:
        org = Organization(name="Demo Co", credits=0, reserved_credits=0)
        db.session.add(org)
        db.session.flush()
        grant_credits(org, 25)
        user = User(email=DEMO_EMAIL, password_hash=hash_password(DEMO_PASSWORD))
        db.session.add(user)
        project = Project(
            organization_id=org.id, name="Demo shop", base_url="https://shop.example.com"
        )
        db.session.add(project)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, organization_id=org.id, role="owner"))
        db.session.commit()
        _post(create_scan_run(project), [["hsts", "alt"], ["cookie", "alt"]])
        _post(create_scan_run(project), [["hsts", "mixed"], ["cookie", "mixed", "slow"], ["alt"]])
    membership = db.session.scalars(select(Membership).where(Membership.user_id == user.id)).first()
    project = db.session.scalars(
        select(Project).where(Project.organization_id == membership.organization_id)
    ).first()
    latest = db.session.scalars(
        select(ScanRun).where(ScanRun.project_id == project.id).order_by(ScanRun.id.desc())
    ).first()
    return {
        "organizationId": membership.organization_id,
        "projectId": project.id,
        "scanRunId": latest.id if latest else None,
        "login": {"url": "/login", "email": DEMO_EMAIL, "password": DEMO_PASSWORD},
        "report": f"/scan-runs/{latest.id}/report" if latest else None,
    }
