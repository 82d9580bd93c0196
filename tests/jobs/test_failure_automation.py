"""Failure automation: the project's owners are told once, by email through SMTP or by log."""

from __future__ import annotations

import base64
import logging
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest

from tests import payloads
from tests.jobs.conftest import outbox_rows
from webriskops import notifications
from webriskops.ingest import tasks
from webriskops.models import OwnerNotification

SMTP_PASSWORD = "s3cret-smtp-pass"  # noqa: S105 - the fake server's


class FakeSmtpHandler(socketserver.StreamRequestHandler):
    """Just enough ESMTP for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: FakeSmtpServer = self.server  # type: ignore[assignment]
        envelope: dict[str, Any] = {"to": []}
        self.reply("220 fake ESMTP")
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake")
                self.reply("250 AUTH PLAIN")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split()[2]).split(b"\0")
                server.logins.append((user.decode(), password.decode()))
                self.reply("235 ok")
            elif verb == "MAIL":
                envelope["from"] = command.split(":", 1)[1].strip(" <>")
                self.reply("250 ok")
            elif verb == "RCPT":
                envelope["to"].append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                server.messages.append({**envelope, "message": message_from_bytes(data)})
                envelope = {"to": []}
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class FakeSmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeSmtpHandler)
        self.messages: list[dict[str, Any]] = []
        self.logins: list[tuple[str, str]] = []


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtpServer]:
    server = FakeSmtpServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """In-process jobs; SMTP when the test asks for the fake server."""
    if "smtp_server" not in request.fixturenames:
        return {}
    server = request.getfixturevalue("smtp_server")
    port = server.server_address[1]
    return {
        "SMTP_URL": f"smtp://alerts%40acme.test:{SMTP_PASSWORD}@127.0.0.1:{port}/"
        "?from=WebRiskOps%20%3Calerts@acme.test%3E"
    }


@pytest.fixture
def org_with_people(make_org, make_project, make_run, make_user):
    org = make_org()
    project = make_project(org, name="Shop")
    make_user(org, "owner1@acme.test", role="owner")
    make_user(org, "owner2@acme.test", role="owner")
    make_user(org, "member@acme.test", role="member")
    other = make_org("Other")
    make_user(other, "stranger@other.test", role="owner")
    return project


def test_owners_are_emailed_once_when_a_run_fails(
    app, post, make_run, org_with_people, smtp_server, caplog
):
    run = make_run(org_with_people)
    caplog.set_level(logging.DEBUG)
    response = post(payloads.failed(run.id, message="Timed out on https://shop.test/cart"))
    assert response.status_code == 202

    assert sorted(m["to"][0] for m in smtp_server.messages) == [
        "owner1@acme.test",
        "owner2@acme.test",
    ]
    assert set(smtp_server.logins) == {("alerts@acme.test", SMTP_PASSWORD)}
    message = smtp_server.messages[0]["message"]
    assert message["From"] == "WebRiskOps <alerts@acme.test>"
    assert message["Subject"] == f"[WebRiskOps] Scan {run.id} of Shop failed"
    body = message.get_payload()
    assert "NAVIGATION_TIMEOUT" in body and "Timed out on https://shop.test/cart" in body
    assert SMTP_PASSWORD not in caplog.text

    tasks.automate_failure(run.id)  # a second run tells nobody again
    assert len(smtp_server.messages) == 2
    assert {row.state for row in outbox_rows()} == {"done"}


class Killed(BaseException):
    """The worker dies (SIGKILL cannot be caught; this ends the task just as abruptly)."""


def test_a_worker_killed_mid_smtp_never_emails_an_owner_twice(
    app, post, make_run, org_with_people, smtp_server, monkeypatch
):
    run = make_run(org_with_people)
    with monkeypatch.context() as patch:
        patch.setitem(tasks.FOLLOW_UPS, "failed", lambda scan_run_id, present: [])
        assert post(payloads.failed(run.id)).status_code == 202
    send = notifications.send_email

    def send_then_die(*args: Any, **kwargs: Any) -> None:
        send(*args, **kwargs)
        raise Killed  # the server has the email; the worker dies before recording anything

    monkeypatch.setattr(notifications, "send_email", send_then_die)
    with pytest.raises(Killed):
        tasks.automate_failure(run.id)
    monkeypatch.undo()
    tasks.automate_failure(run.id)  # the retry after the crash
    tasks.automate_failure(run.id)

    recipients = sorted(m["to"][0] for m in smtp_server.messages)
    assert recipients == ["owner1@acme.test", "owner2@acme.test"]  # at most once each
    ids = {m["to"][0]: m["message"]["Message-ID"] for m in smtp_server.messages}
    owner = ids["owner1@acme.test"]
    assert owner.startswith(f"<scan-run-{run.id}.scan_run.failed.user-") and owner.endswith(
        "@acme.test>"
    )
    assert len(set(ids.values())) == 2


def test_the_message_id_is_the_same_on_every_try(app):
    url = "smtp://127.0.0.1:25/?from=WebRiskOps%20%3Calerts@acme.test%3E"
    first = notifications.message_id(url, 7, "scan_run.failed", 3)
    assert first == notifications.message_id(url, 7, "scan_run.failed", 3)
    assert first == "<scan-run-7.scan_run.failed.user-3@acme.test>"
    assert first != notifications.message_id(url, 7, "scan_run.failed", 4)


def test_without_smtp_owners_are_notified_by_a_log_line(
    app, post, make_run, org_with_people, caplog
):
    run = make_run(org_with_people)
    with caplog.at_level(logging.WARNING, logger="webriskops.ingest.tasks"):
        assert post(payloads.failed(run.id)).status_code == 202
        tasks.automate_failure(run.id)
    lines = [r.getMessage() for r in caplog.records if "notified by log" in r.getMessage()]
    assert lines == [
        f"scan run {run.id} of project {run.project_id} failed with NAVIGATION_TIMEOUT; "
        "2 owner(s) notified by log (set WRO_SMTP_URL to email them)"
    ]
    assert OwnerNotification.query.count() == 2


def test_an_unreachable_smtp_server_is_retried_without_leaking_the_url(
    app, post, make_run, org_with_people, caplog
):
    from tests.conftest import free_port

    app.config["SMTP_URL"] = f"smtp://user:{SMTP_PASSWORD}@127.0.0.1:{free_port()}/"
    run = make_run(org_with_people)
    caplog.set_level(logging.DEBUG)
    assert post(payloads.failed(run.id)).status_code == 202
    job = next(row for row in outbox_rows() if row.name == "automate_failure")
    assert (job.state, job.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in job.last_error
    assert SMTP_PASSWORD not in job.last_error
    assert SMTP_PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://u%40x.test:p%3Ass@mail.test:2525/?from=ops@x.test",
            ("mail.test", 2525, "u@x.test", "p:ss", "ops@x.test", False, "auto"),
        ),
        (
            "smtps://mail.test",
            ("mail.test", 465, None, None, "webriskops@mail.test", True, "auto"),
        ),
        (
            "smtp://me@x.test:pw@mail.test?starttls=require",
            ("mail.test", 25, "me@x.test", "pw", "me@x.test", False, "require"),
        ),
    ],
)
def test_smtp_urls(url: str, expected: tuple):
    settings = notifications.parse_smtp_url(url)
    assert (
        settings.host,
        settings.port,
        settings.username,
        settings.password,
        settings.sender,
        settings.implicit_tls,
        settings.starttls,
    ) == expected
    assert "pw" not in repr(settings) and "p:ss" not in repr(settings)


@pytest.mark.parametrize(
    "url",
    [
        "http://u:pw-123@mail.test",
        "smtp://u:pw-123@",
        "smtp://u:pw-123@mail.test:notaport",
        "smtp://u:pw-123@h?starttls=maybe",
    ],
)
def test_bad_smtp_urls_are_refused_without_echoing_them(url: str):
    with pytest.raises(notifications.SmtpConfigError) as error:
        notifications.parse_smtp_url(url)
    assert "pw-123" not in str(error.value)
