"""Email to people (project owners) through SMTP, configured by ``WRO_SMTP_URL``.

The URL is ``smtp://user:password@host:port/?from=alerts@example.com`` (STARTTLS when the
server offers it; ``?starttls=require`` insists, ``?starttls=off`` never tries) or
``smtps://…`` (TLS from the first byte, port 465 by default). It holds a password, so it
is never logged and never part of an error message.
"""

from __future__ import annotations

import email.utils
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_SECONDS = 20
_STARTTLS = {"auto": "auto", "require": "require", "1": "require", "true": "require",
             "off": "off", "0": "off", "false": "off"}  # fmt: skip


class SmtpConfigError(ValueError):
    """``WRO_SMTP_URL`` cannot be used (the message never repeats the URL)."""


@dataclass(frozen=True)
class SmtpSettings:
    """What ``WRO_SMTP_URL`` says."""

    host: str
    port: int
    username: str | None
    password: str | None
    sender: str
    implicit_tls: bool
    starttls: str

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"SmtpSettings(host={self.host!r}, port={self.port}, sender={self.sender!r})"


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read an ``smtp://`` or ``smtps://`` URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SmtpConfigError("WRO_SMTP_URL is malformed") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SmtpConfigError("WRO_SMTP_URL must be smtp://… or smtps://… with a host")
    query = parse_qs(parts.query)
    starttls = _STARTTLS.get((query.get("starttls") or ["auto"])[0].lower())
    if starttls is None:
        raise SmtpConfigError("WRO_SMTP_URL: starttls must be auto, require or off")
    username = unquote(parts.username) if parts.username else None
    sender = (query.get("from") or [None])[0]
    if not sender:
        sender = username if username and "@" in username else f"webriskops@{parts.hostname}"
    implicit_tls = parts.scheme == "smtps"
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        username=username,
        password=unquote(parts.password) if parts.password is not None else None,
        sender=sender,
        implicit_tls=implicit_tls,
        starttls=starttls,
    )


def message_id(smtp_url: str, scan_run_id: int, event: str, user_id: int) -> str:
    """A ``Message-ID`` that is the same every time this event is told to this user."""
    address = email.utils.parseaddr(parse_smtp_url(smtp_url).sender)[1]
    domain = address.rpartition("@")[2] or "webriskops.invalid"
    return f"<scan-run-{scan_run_id}.{event}.user-{user_id}@{domain}>"


def send_email(
    smtp_url: str, to: str, subject: str, body: str, *, message_id: str | None = None
) -> None:
    """Send one plain-text email (with the given ``Message-ID``, to make retries recognizable)."""
    settings = parse_smtp_url(smtp_url)
    message = EmailMessage()
    if message_id:
        message["Message-ID"] = message_id
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = _one_line(subject)
    message.set_content(body)
    context = ssl.create_default_context()
    if settings.implicit_tls:
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if not settings.implicit_tls and settings.starttls != "off":
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif settings.starttls == "require":
                raise SmtpConfigError("the SMTP server does not offer STARTTLS")
        if settings.username:
            client.login(settings.username, settings.password or "")
        client.send_message(message)


def failed_run_message(run, project) -> tuple[str, str]:
    """Subject and body of the "scan failed" email to a project's owners (no evidence)."""
    subject = f"[WebRiskOps] Scan {run.id} of {project.name} failed"
    lines = [
        f"The scan run {run.id} of project {project.name} ({project.base_url}) failed.",
        "",
        f"Error code: {run.error_code}",
        f"Message: {run.error_message}",
    ]
    if run.error_url:
        lines.append(f"URL: {run.error_url}")
    lines += [
        "",
        "The reserved scan credit was restored. Details: "
        f"/scan-runs/{run.id} (read API: /api/scan-runs/{run.id}).",
    ]
    return subject, "\n".join(lines) + "\n"


def _one_line(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()
