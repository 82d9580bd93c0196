"""A small local website with known problems, to scan in the demo and in the tests.

``webriskops-scanner demo-site --port 8001`` serves it on 127.0.0.1. ``/about`` and
``/contact`` are clean, and so is ``/`` apart from the probes' findings (exposed files
are reported on the home page); the others each plant problems the scanner must find
(``PLANTED`` lists them with their severities); ``/private/`` is disallowed by
robots.txt and must never be requested. ``DemoSite.fixed`` switches problems off, so a
test (or a curious user) can fix one and watch it come back as resolved.
"""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# problem -> (finding type, severity, the page it is reported on)
PLANTED = {
    "password-form": ("password-form-over-http", "high", "/login"),
    "session-cookie-httponly": ("cookie-without-httponly", "medium", "/login"),
    "session-cookie-samesite": ("cookie-without-samesite", "low", "/login"),
    "csp": ("missing-csp", "medium", "/shop"),
    "nosniff": ("missing-x-content-type-options", "low", "/shop"),
    "referrer-policy": ("missing-referrer-policy", "low", "/shop"),
    "frame-protection": ("missing-frame-protection", "medium", "/shop"),
    "powered-by": ("version-disclosure", "low", "/shop"),
    "image-alt": ("image-missing-alt", "low", "/shop"),
    "lang": ("missing-lang", "low", "/shop"),
    "slow": ("slow-page", "low", "/shop"),
    "title": ("missing-title", "low", "/blog"),
    "secret": ("secret-in-page-source", "high", "/blog"),
    "broken-link": ("broken-link", "low", "/blog"),
    "server-error": ("server-error", "medium", "/blog"),
    "directory-listing": ("directory-listing", "medium", "/files/"),
    "env-file": ("exposed-env-file", "high", "/"),
    "git-head": ("exposed-git-repository", "high", "/"),
}
# The home page is clean too, but carries the site-wide findings of the probes.
CLEAN_PAGES = ("/about", "/contact")
# A made-up key in Stripe's format: the redaction engine recognises it, Stripe does not.
PLANTED_SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"  # noqa: S105 - a planted fake

SAFE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


STYLE = b"""body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
nav{background:#0f766e;padding:14px 32px}nav a{color:#fff;margin-right:18px;font-weight:600}
h1{margin:0 0 12px;font-size:30px}main{padding:28px 32px;max-width:860px}
ul{padding-left:20px;line-height:1.8}form{display:grid;gap:10px;max-width:360px}
input,textarea{padding:8px;border:1px solid #cbd5e1;border-radius:6px}
button{padding:9px;border:0;border-radius:6px;background:#0f766e;color:#fff}
"""


def _page(title: str | None, body: str, lang: bool = True) -> str:
    head = '<link rel="stylesheet" href="/style.css">'
    head += f"<title>{title}</title>" if title is not None else ""
    html = '<html lang="en">' if lang else "<html>"
    return (
        f'<!doctype html>\n{html}<head><meta charset="utf-8">{head}</head>\n'
        f'<body>\n<nav><a href="/">Home</a> <a href="/about">About</a></nav>\n'
        f"<main>{body}</main>\n</body></html>\n"
    )


class DemoSite:
    """The site's state: which problems are fixed, how slow the slow page is."""

    def __init__(self, slow_seconds: float = 3.5) -> None:
        self.fixed: set[str] = set()
        self.slow_seconds = slow_seconds
        self.requests: list[str] = []  # every path asked for, in order
        self._lock = threading.Lock()

    def planted(self, problem: str) -> bool:
        """True while ``problem`` is on the site."""
        return problem not in self.fixed

    def answer(self, path: str) -> tuple[int, dict[str, str], list[str], bytes]:
        """Status, headers, Set-Cookie values and body for ``path``."""
        with self._lock:
            self.requests.append(path)
        route = path.split("?", 1)[0]
        headers = dict(SAFE_HEADERS)
        cookies: list[str] = []
        html = "text/html; charset=utf-8"
        if route == "/style.css":
            return 200, {**headers, "Content-Type": "text/css"}, [], STYLE
        if route == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, [], b"User-agent: *\nDisallow: /private/\n"
        if route == "/":
            body = _page(
                "Demo shop",
                "<h1>Demo shop</h1>\n<ul>"
                '<li><a href="/contact">Contact</a></li><li><a href="/login">Log in</a></li>'
                '<li><a href="/shop">Shop</a></li><li><a href="/blog">Blog</a></li>'
                '<li><a href="/files/">Downloads</a></li>'
                '<li><a href="/private/admin">Admin</a></li>'
                '<li><a href="http://example.com/partner">Partner (another site)</a></li>'
                '<li><a href="mailto:hello@example.com">Mail us</a></li></ul>\n'
                '<img src="/logo.svg" alt="Demo shop logo">',
            )
        elif route == "/about":
            body = _page(
                "About us", '<h1>About</h1><p>We sell things.</p><a href="/contact">Write</a>'
            )
        elif route == "/contact":
            body = _page(
                "Contact",
                '<h1>Contact</h1><form method="post" action="/contact">'
                '<label>Message <textarea name="message"></textarea></label>'
                "<button>Send</button></form>",
            )
        elif route == "/login":
            fields = (
                '<input type="password" name="password">' if self.planted("password-form") else ""
            )
            body = _page(
                "Log in",
                '<h1>Log in</h1><form method="post" action="/login">'
                f'<input name="email">{fields}<button>Log in</button></form>',
            )
            flags = ["Path=/"]
            if not self.planted("session-cookie-httponly"):
                flags.append("HttpOnly")
            if not self.planted("session-cookie-samesite"):
                flags.append("SameSite=Lax")
            cookies.append("sessionid=3f2a9c0d; " + "; ".join(flags))
        elif route == "/shop":
            for problem, header in (
                ("csp", "Content-Security-Policy"),
                ("nosniff", "X-Content-Type-Options"),
                ("referrer-policy", "Referrer-Policy"),
            ):
                if self.planted(problem):
                    headers.pop(header)
            if self.planted("frame-protection"):
                headers.pop("X-Frame-Options")
                if "Content-Security-Policy" in headers:
                    headers["Content-Security-Policy"] = "default-src 'self'"
            if self.planted("powered-by"):
                headers["X-Powered-By"] = "PHP/7.4.3"
            if self.planted("slow"):
                time.sleep(self.slow_seconds)
            alt = "" if self.planted("image-alt") else ' alt="Autumn sale banner"'
            body = _page(
                "Shop",
                f'<h1>Shop</h1><img src="/banner.png"{alt}><p>Everything must go.</p>',
                lang=not self.planted("lang"),
            )
        elif route == "/blog":
            secret = (
                f'<script>var stripeKey = "{PLANTED_SECRET}";</script>'
                if self.planted("secret")
                else ""
            )
            links = ""
            if self.planted("broken-link"):
                links += '<a href="/blog/old-post">Our first post</a> '
            if self.planted("server-error"):
                links += '<a href="/broken">Live prices</a>'
            body = _page(
                None if self.planted("title") else "Blog",
                f"<h1>Blog</h1>{secret}<p>News.</p>{links}",
            )
        elif route == "/files/" and self.planted("directory-listing"):
            body = (
                '<!doctype html><html lang="en"><head><title>Index of /files/</title></head>'
                '<body><h1>Index of /files/</h1><ul><li><a href="readme.txt">readme.txt</a></li>'
                "</ul></body></html>"
            )
        elif route == "/files/readme.txt":
            return 200, {**headers, "Content-Type": "text/plain"}, [], b"Read me.\n"
        elif route == "/.env" and self.planted("env-file"):
            return (
                200,
                {"Content-Type": "text/plain"},
                [],
                (b"APP_ENV=production\nDB_HOST=db.internal\nDB_PASSWORD=Tr0ub4dor-and-3\n"),
            )
        elif route == "/.git/HEAD" and self.planted("git-head"):
            return 200, {"Content-Type": "text/plain"}, [], b"ref: refs/heads/main\n"
        elif route == "/broken":
            return (
                500,
                {**headers, "Content-Type": html},
                [],
                _page("Error", "<h1>Oops</h1>").encode(),
            )
        elif route == "/old-home":
            return 301, {**headers, "Location": "/"}, [], b""
        else:
            return (
                404,
                {**headers, "Content-Type": html},
                [],
                _page("Not found", "<h1>Not found</h1>").encode(),
            )
        return 200, {**headers, "Content-Type": html}, cookies, body.encode()


class _Handler(BaseHTTPRequestHandler):
    site: DemoSite
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "demo-site"  # no version number: clean pages must not disclose one

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status, headers, cookies, body = self.site.answer(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # the scanner may give up on a slow answer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(303)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the scanner's requests are not worth a line each."""


def start(site: DemoSite, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Serve ``site`` from a background thread; ``server.server_address`` tells the port."""
    handler = type("DemoHandler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    return server
