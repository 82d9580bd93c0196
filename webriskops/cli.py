"""The operator CLI (``flask --app wsgi …``); every command prints one JSON object."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson
from flask import Flask
from sqlalchemy import select

from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models import (
    ROLES,
    InsufficientCredits,
    Membership,
    Organization,
    Project,
    ScanRun,
    User,
    create_organization,
    grant_credits,
)


def emit(data: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    click.echo(orjson.dumps(data).decode())


def fail(message: str) -> None:
    """Print an error object on stderr and exit 1."""
    click.echo(orjson.dumps({"error": message}).decode(), err=True)
    sys.exit(1)


def _get(model, ident: int, what: str):
    obj = db.session.get(model, ident)
    if obj is None:
        fail(f"{what} {ident} not found")
    return obj


orgs = click.Group("orgs", help="Customer organizations.")
projects = click.Group("projects", help="Projects (websites) of an organization.")
users = click.Group("users", help="Users and their memberships.")
tokens = click.Group("tokens", help="Personal API tokens.")
scan_runs = click.Group("scan-runs", help="Scan runs.")
jobs = click.Group("jobs", help="Background work.")


@orgs.command("create")
@click.argument("name")
@click.option("--credits", "credits_", type=click.IntRange(min=0), default=0, show_default=True)
def orgs_create(name: str, credits_: int) -> None:
    """Create an organization with a starting credit balance."""
    org = create_organization(name, credits_)
    db.session.commit()
    emit({"organizationId": org.id})


@orgs.command("show")
@click.argument("org_id", type=int)
def orgs_show(org_id: int) -> None:
    """Show an organization's credit balance."""
    org = _get(Organization, org_id, "organization")
    emit(
        {
            "organizationId": org.id,
            "name": org.name,
            "credits": org.credits,
            "reservedCredits": org.reserved_credits,
        }
    )


@orgs.command("grant")
@click.argument("org_id", type=int)
@click.argument("amount", type=click.IntRange(min=1))
def orgs_grant(org_id: int, amount: int) -> None:
    """Add scan credits to an organization."""
    org = _get(Organization, org_id, "organization")
    grant_credits(org, amount)
    db.session.commit()
    db.session.refresh(org)
    emit({"organizationId": org.id, "credits": org.credits})


@projects.command("create")
@click.argument("org_id", type=int)
@click.argument("name")
@click.option("--base-url", required=True, help="The site's base URL (http or https).")
def projects_create(org_id: int, name: str, base_url: str) -> None:
    """Create a project of an organization."""
    from webriskops.ingest.fields import HttpUrl

    _get(Organization, org_id, "organization")
    try:
        HttpUrl().deserialize(base_url)
    except Exception:  # noqa: BLE001 - a marshmallow ValidationError
        fail("--base-url must be an absolute http or https URL")
    project = Project(organization_id=org_id, name=name, base_url=base_url)
    db.session.add(project)
    db.session.commit()
    emit({"projectId": project.id})


@users.command("create")
@click.argument("email")
@click.option("--org", "org_id", type=int, required=True, help="Organization to join.")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(email: str, org_id: int, role: str, password_stdin: bool) -> None:
    """Create a user (or add an existing one) as a member of an organization."""
    from webriskops.auth.passwords import hash_password

    _get(Organization, org_id, "organization")
    email = email.strip().lower()
    if "@" not in email:
        fail("EMAIL must be an email address")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < 8:
            fail("the password must be at least 8 characters")
    user = db.session.scalars(select(User).where(User.email == email)).first()
    if user is None:
        user = User(email=email)
        db.session.add(user)
    if password is not None:
        user.password_hash = hash_password(password)
    db.session.flush()
    membership = db.session.scalars(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == org_id
        )
    ).first()
    if membership is None:
        db.session.add(Membership(user_id=user.id, organization_id=org_id, role=role))
    else:
        membership.role = role
    db.session.commit()
    emit({"userId": user.id})


@tokens.command("create")
@click.argument("email")
def tokens_create(email: str) -> None:
    """Create a personal API token; it is shown once and stored only as a hash."""
    from webriskops.auth.tokens import create_token

    user = db.session.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        fail(f"user {email} not found")
    token = create_token(user)
    db.session.commit()
    emit({"token": token})


@scan_runs.command("create")
@click.argument("project_id", type=int)
def scan_runs_create(project_id: int) -> None:
    """Create a queued run and reserve one credit."""
    from webriskops.scans.services import create_scan_run

    project = _get(Project, project_id, "project")
    try:
        run = create_scan_run(project)
    except InsufficientCredits:
        fail("INSUFFICIENT_CREDITS: the organization has no scan credits left")
    outbox.dispatch_ready()  # scan_run.queued; a request would do this after responding
    emit({"scanRunId": run.id, "status": run.status})


@scan_runs.command("show")
@click.argument("scan_run_id", type=int)
def scan_runs_show(scan_run_id: int) -> None:
    """Show a run as the read API does, plus its credit state."""
    from webriskops.reports.services import scan_run_detail

    run = _get(ScanRun, scan_run_id, "scan run")
    emit({**scan_run_detail(run), "credit": run.credit_state})


@jobs.command("sweep")
def jobs_sweep() -> None:
    """Requeue or time out overdue scan runs, then hand every pending outbox job over.

    Prints ``{"enqueued": N}`` (jobs handed to the queue, or run in-process without
    Redis), as the contract says; what happened to runs goes to stderr for people.
    """
    from webriskops.scans.services import sweep_runs

    runs = sweep_runs()
    emit({"enqueued": outbox.sweep()})
    click.echo(
        f"scan runs: {runs['requeued']} requeued after an expired lease, "
        f"{runs['timedOut']} failed with SCAN_TIMEOUT",
        err=True,
    )


@click.command("demo")
def demo() -> None:
    """Create a demo organization, project, user and a completed scan with findings."""
    from webriskops.demo import create_demo

    emit(create_demo())


def init_app(app: Flask) -> None:
    """Register the command groups."""
    from webriskops.scanner_client import scanner
    from webriskops.webhooks.cli import webhooks

    for command in (orgs, projects, users, tokens, scan_runs, jobs, webhooks, scanner, demo):
        app.cli.add_command(command)
