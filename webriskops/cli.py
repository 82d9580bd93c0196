"""The operator CLI (``flask --app wsgi …``); every command prints one JSON object."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import click
import orjson
from flask import Flask
from sqlalchemy import func, select

from webriskops.accounts.services import Refused, create_project, revoke_api_token
from webriskops.auth.passwords import hash_password
from webriskops.auth.session import end_sessions
from webriskops.auth.tokens import is_usable, issue_token
from webriskops.demo import DEFAULT_BASE_URL, create_demo
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models import (
    ROLES,
    ApiToken,
    InsufficientCredits,
    Membership,
    Organization,
    Project,
    ScanRun,
    User,
    create_organization,
    grant_credits,
)
from webriskops.models.base import isoformat, utcnow
from webriskops.reports.services import scan_run_detail
from webriskops.scanner_client import scanner
from webriskops.scans.services import create_scan_run, sweep_runs


def emit(data: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    click.echo(orjson.dumps(data).decode())


def fail(message: str) -> None:
    """Print an error object on stderr and exit 1."""
    click.echo(orjson.dumps({"error": message}).decode(), err=True)
    sys.exit(1)


def _name(value: str, what: str) -> str:
    """A trimmed, non-blank name of at most 200 characters, or exit 1."""
    value = value.strip()
    if not value:
        fail(f"{what} must not be blank")
    if len(value) > 200 or "\x00" in value:
        fail(f"{what} must be at most 200 characters, without NUL")
    return value


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
    name = _name(name, "NAME")
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


@orgs.command("list")
def orgs_list() -> None:
    """Every organization with its credit balance."""
    rows = db.session.scalars(select(Organization).order_by(Organization.id))
    emit(
        {
            "organizations": [
                {
                    "organizationId": org.id,
                    "name": org.name,
                    "credits": org.credits,
                    "reservedCredits": org.reserved_credits,
                }
                for org in rows
            ]
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

    organization = _get(Organization, org_id, "organization")
    name = _name(name, "NAME")
    try:
        project = create_project(organization, name, base_url)
    except Refused:
        fail("--base-url must be an absolute http or https URL")
    emit({"projectId": project.id})


@projects.command("list")
@click.option("--org", "org_id", type=int, help="Only this organization's projects.")
def projects_list(org_id: int | None) -> None:
    """Projects, by organization and id."""
    query = select(Project).order_by(Project.organization_id, Project.id)
    if org_id is not None:
        _get(Organization, org_id, "organization")
        query = query.where(Project.organization_id == org_id)
    emit(
        {
            "projects": [
                {
                    "projectId": project.id,
                    "organizationId": project.organization_id,
                    "name": project.name,
                    "baseUrl": project.base_url,
                }
                for project in db.session.scalars(query)
            ]
        }
    )


@users.command("create")
@click.argument("email")
@click.option("--org", "org_id", type=int, required=True, help="Organization to join.")
@click.option(
    "--role", type=click.Choice(ROLES), default=None, help="Default for a new user: member."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--reset-password",
    is_flag=True,
    help="The user exists: set a new password (from --password-stdin) and the membership.",
)
def users_create(
    email: str, org_id: int, role: str | None, password_stdin: bool, reset_password: bool
) -> None:
    """Create a user in an organization; an existing user only with --reset-password."""

    _get(Organization, org_id, "organization")
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        fail("EMAIL must be an email address")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < 8:
            fail("the password must be at least 8 characters")
    user = db.session.scalars(select(User).where(User.email == email)).first()
    result: dict[str, Any] = {}
    if user is None:
        user = User(email=email, password_hash=hash_password(password) if password else None)
        db.session.add(user)
        db.session.flush()
    elif not reset_password:
        # Silently resetting someone's password or role is how mistakes go unnoticed.
        fail(
            f"user {email} already exists (userId {user.id}); pass --reset-password "
            "with --password-stdin to set a new password, or invite them from /settings/members"
        )
    else:
        if password is None:
            fail("--reset-password needs the new password on --password-stdin")
        user.password_hash = hash_password(password)
        result["passwordReset"] = True
    membership = db.session.scalars(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == org_id
        )
    ).first()
    if membership is None:
        membership = Membership(user_id=user.id, organization_id=org_id, role=role or "member")
        db.session.add(membership)
        result["membership"] = "created"
    elif role is not None and role != membership.role:
        owners = db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.organization_id == org_id, Membership.role == "owner")
        )
        if membership.role == "owner" and owners <= 1:
            fail("the organization's last owner cannot be demoted")
        result["roleChanged"] = {"from": membership.role, "to": role}
        membership.role = role
        result["membership"] = "updated"
    else:
        result["membership"] = "unchanged"
    result["role"] = membership.role
    db.session.commit()
    if password is not None:
        end_sessions(user.id)  # a new password ends the user's sessions everywhere
    emit({"userId": user.id, **result})


@users.command("list")
@click.option("--org", "org_id", type=int, help="Only this organization's members.")
def users_list(org_id: int | None) -> None:
    """Users with their memberships (never password hashes)."""
    query = select(User).order_by(User.id)
    if org_id is not None:
        _get(Organization, org_id, "organization")
        query = query.where(
            User.id.in_(select(Membership.user_id).where(Membership.organization_id == org_id))
        )
    users_ = list(db.session.scalars(query))
    memberships: dict[int, list[dict[str, Any]]] = {user.id: [] for user in users_}
    if users_:
        for membership in db.session.scalars(
            select(Membership)
            .where(Membership.user_id.in_(list(memberships)))
            .order_by(Membership.organization_id)
        ):
            memberships[membership.user_id].append(
                {"organizationId": membership.organization_id, "role": membership.role}
            )
    emit(
        {
            "users": [
                {
                    "userId": user.id,
                    "email": user.email,
                    "hasPassword": user.password_hash is not None,
                    "memberships": memberships[user.id],
                }
                for user in users_
            ]
        }
    )


def _user_by_email(email: str) -> User:
    user = db.session.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        fail(f"user {email} not found")
    return user


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for (shown in /settings/tokens).")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), help="Default: never expires.")
def tokens_create(email: str, name: str, expires_in_days: int | None) -> None:
    """Create a personal API token; it is shown once and stored only as a hash."""

    user = _user_by_email(email)
    if len(name) > 100 or "\x00" in name:
        fail("--name must be at most 100 characters, without NUL")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    row, token = issue_token(user, name=name.strip(), expires_at=expires_at)
    db.session.commit()
    emit({"token": token, "tokenId": row.id, "expiresAt": isoformat(row.expires_at)})


@tokens.command("list")
@click.argument("email")
def tokens_list(email: str) -> None:
    """A user's tokens (prefix only, never the token): name, created, last used, expiry."""

    user = _user_by_email(email)
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    )
    emit(
        {
            "tokens": [
                {
                    "tokenId": row.id,
                    "name": row.name,
                    "prefix": row.prefix,
                    "createdAt": isoformat(row.created_at),
                    "lastUsedAt": isoformat(row.last_used_at),
                    "expiresAt": isoformat(row.expires_at),
                    "revokedAt": isoformat(row.revoked_at),
                    "active": is_usable(row),
                }
                for row in rows
            ]
        }
    )


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id (see ``tokens list``): it gets 401 from the next request on."""

    row = _get(ApiToken, token_id, "token")
    already = row.revoked_at is not None
    revoke_api_token(row)
    emit({"tokenId": row.id, "revoked": True, "alreadyRevoked": already})


@scan_runs.command("create")
@click.argument("project_id", type=int)
def scan_runs_create(project_id: int) -> None:
    """Create a queued run and reserve one credit."""

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

    run = _get(ScanRun, scan_run_id, "scan run")
    emit({**scan_run_detail(run), "credit": run.credit_state})


@jobs.command("sweep")
def jobs_sweep() -> None:
    """Requeue or time out overdue scan runs, then hand every pending outbox job over.

    Prints ``{"enqueued": N}`` (jobs handed to the queue, or run in-process without
    Redis), as the contract says; what happened to runs goes to stderr for people.
    """

    runs = sweep_runs()
    emit({"enqueued": outbox.sweep()})
    click.echo(
        f"scan runs: {runs['requeued']} requeued after an expired lease, "
        f"{runs['timedOut']} failed with SCAN_TIMEOUT",
        err=True,
    )


@click.command("demo")
@click.option(
    "--base-url",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="Where the app is served: the printed login and report are full links under it.",
)
def demo(base_url: str) -> None:
    """Create a demo organization, project, user and a completed scan with findings."""
    emit(create_demo(base_url))


def init_app(app: Flask) -> None:
    """Register the command groups."""
    # Late: webhooks.cli builds on this module's emit/_get/fail, a cycle at module level.
    from webriskops.webhooks.cli import webhooks

    for command in (orgs, projects, users, tokens, scan_runs, jobs, webhooks, scanner, demo):
        app.cli.add_command(command)
