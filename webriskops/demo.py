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
from webriskops.models import Membership, Project, ScanRun, User, create_organization
from webriskops.scans.services import create_scan_run
from webriskops.storage import storage

DEMO_EMAIL = "demo@webriskops.test"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo login, not a secret
# Where `flask run` serves by default; `make run PORT=…` passes its own.
DEFAULT_BASE_URL = "http://127.0.0.1:5000"

# key: (category, type, severity, title, description, impact, remediation, evidence)
_ISSUES: dict[str, tuple[str, ...]] = {
    "hsts": (
        "security",
        "missing-hsts",
        "medium",
        "Strict-Transport-Security header missing",
        "The site answers over HTTPS but does not send a Strict-Transport-Security header, "
        "so browsers may still try plain HTTP first.",
        "A visitor on a hostile network (public Wi-Fi) can be downgraded to HTTP and have "
        "their session intercepted.",
        "Send Strict-Transport-Security: max-age=31536000; includeSubDomains on every "
        "HTTPS response, then consider preloading the domain.",
        "HTTP/2 200\ncontent-type: text/html\nserver: nginx\n(no strict-transport-security)",
    ),
    "cookie": (
        "security",
        "insecure-cookie",
        "high",
        "Session cookie without Secure flag",
        "The session cookie is set without the Secure and HttpOnly attributes.",
        "The session can leak over unencrypted connections or be read by injected "
        "scripts, letting an attacker take over a customer account.",
        "Set the session cookie with Secure; HttpOnly; SameSite=Lax.",
        "Set-Cookie: sid=abc123; Path=/",
    ),
    "alt": (
        "accessibility",
        "img-missing-alt",
        "low",
        "Images without alternative text",
        "Product images have no alt attribute.",
        "Screen-reader users cannot tell what is shown; this also fails WCAG 2.1 "
        "success criterion 1.1.1.",
        'Give every meaningful image a short alt text; use alt="" for decorative ones.',
        '<img src="/media/hero.jpg" class="hero">',
    ),
    "mixed": (
        "security",
        "mixed-content",
        "high",
        "Mixed content on checkout page",
        "The checkout page loads a script over plain HTTP.",
        "Anyone on the network path can replace the script and read card details "
        "typed into the checkout form.",
        "Load every resource over HTTPS and add Content-Security-Policy: "
        "upgrade-insecure-requests.",
        '<script src="http://cdn.shop.example.com/widgets.js"></script>',
    ),
    "slow": (
        "performance",
        "slow-page",
        "low",
        "Page takes over 3 s to load",
        "The checkout page became interactive after 3.4 seconds on a simulated 4G connection.",
        "Slow checkouts lose customers: abandonment grows with every extra second.",
        "Compress and lazy-load images, and defer scripts that are not needed at first paint.",
        "loadTimeMs=3412 (budget 3000)",
    ),
    "banner": (
        "security",
        "server-version-disclosure",
        "low",
        "Server version disclosed",
        "The Server header reveals the exact web server version.",
        "Attackers can match the version against known vulnerabilities without probing.",
        "Hide the version (server_tokens off; in nginx).",
        "server: nginx/1.18.0",
    ),
    "privacy": (
        "privacy",
        "tracker-before-consent",
        "medium",
        "Analytics cookie set before consent",
        "An analytics cookie is stored before the visitor accepts the cookie banner.",
        "Setting non-essential cookies without consent can breach the GDPR and the "
        "ePrivacy Directive.",
        "Load the analytics script only after the visitor has given consent.",
        "Set-Cookie: _ga=GA1.2.1234567890.1700000000; Max-Age=63072000",
    ),
}

_PAGES = (
    ("", "home", "Demo shop – home", (37, 99, 235)),
    ("checkout", "checkout", "Demo shop – checkout", (5, 150, 105)),
    ("login", "login", "Demo shop – sign in", (124, 58, 237)),
)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A simple page wireframe (header bar in rgb, content blocks) as a PNG."""
    light = (241, 245, 249)
    grey = (203, 213, 225)
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            if y < height // 8:
                colour = rgb
            elif height // 5 < y < height // 5 + height // 10 and width // 10 < x < width // 2:
                colour = (30, 41, 59)
            elif height // 3 < y < height * 3 // 4 and (
                width // 10 < x < width * 3 // 10
                or width * 4 // 10 < x < width * 6 // 10
                or width * 7 // 10 < x < width * 9 // 10
            ):
                colour = grey
            elif height * 5 // 6 < y:
                colour = light
            else:
                colour = (255, 255, 255)
            row += bytes(colour)
        rows.append(b"\x00" + bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _issue(key: str) -> dict[str, Any]:
    category, kind, severity, title, description, impact, remediation, evidence = _ISSUES[key]
    return {
        "category": category,
        "type": kind,
        "severity": severity,
        "title": title,
        "description": description,
        "fingerprint": f"demo:{kind}:0001",
        "confidence": 90,
        "evidence": evidence,
        "businessImpact": impact,
        "suggestedRemediation": remediation,
        "reproductionSteps": ["Open the page in a browser", "Inspect the response in DevTools"],
    }


def _post(run: ScanRun, issue_keys: list[list[str]]) -> None:
    store = storage()
    pages = []
    for index, keys in enumerate(issue_keys):
        path, page_type, title, colour = _PAGES[index % len(_PAGES)]
        prefix = f"scan-runs/{run.id}/page-{index}"
        store.put(f"{prefix}/screenshot.png", png(480, 300, colour), "image/png")
        store.put(
            f"{prefix}/snapshot.html",
            b"<html><body><h1>Demo page</h1>"
            b"<script>var key='AKIAIOSFODNN7EXAMPLE';</script></body></html>",
            "text/html",
        )
        url = f"https://shop.example.com/{path}"
        pages.append(
            {
                "page": {
                    "url": url,
                    "normalizedUrl": url,
                    "statusCode": 200,
                    "pageType": page_type,
                    "responseHeaders": {"content-type": "text/html", "server": "nginx"},
                    "title": title,
                    "loadTimeMs": 850 + 1300 * index,
                },
                "artifacts": {
                    "screenshotPath": f"{prefix}/screenshot.png",
                    "htmlSnapshotPath": f"{prefix}/snapshot.html",
                },
                "issues": [_issue(key) for key in keys],
            }
        )
    result = {"scanRunId": run.id, "status": "completed", "pages": pages}
    ingest_result(result, key=None, body_hash="")
    outbox.dispatch_ready()


def create_demo(base_url: str = DEFAULT_BASE_URL) -> dict[str, Any]:
    """Create the demo data once; later calls only say where it is (links under ``base_url``)."""
    base_url = base_url.rstrip("/")
    user = db.session.scalars(select(User).where(User.email == DEMO_EMAIL)).first()
    if user is None:
        org = create_organization("Demo Co", credits=25)
        user = User(email=DEMO_EMAIL, password_hash=hash_password(DEMO_PASSWORD))
        db.session.add(user)
        project = Project(
            organization_id=org.id, name="Demo shop", base_url="https://shop.example.com"
        )
        db.session.add(project)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, organization_id=org.id, role="owner"))
        db.session.commit()
        # Two scans, so the report shows new, recurring and resolved findings.
        _post(create_scan_run(project), [["hsts", "banner", "alt"], ["cookie", "alt"]])
        _post(
            create_scan_run(project),
            [["hsts", "mixed", "privacy"], ["cookie", "mixed", "slow"], ["alt"]],
        )
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
        "login": {"url": f"{base_url}/login", "email": DEMO_EMAIL, "password": DEMO_PASSWORD},
        "report": f"{base_url}/scan-runs/{latest.id}/report" if latest else None,
    }
