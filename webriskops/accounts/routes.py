"""Settings pages (contract 4.1): API tokens, members and invitations, webhooks, projects.

Views are thin: they check who may act (owners only → 403; another organization's
anything → 404), hand the form's data to ``services`` and render. Secrets (a new token,
a webhook secret, an invitation link without SMTP) are rendered into the answer to the
POST that made them and never stored anywhere else, not even in the session cookie.
"""

from __future__ import annotations

import logging
import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from webriskops import notifications
from webriskops.accounts import bp, services
from webriskops.accounts.forms import (
    AcceptInvitationForm,
    ExistingAccountForm,
    InviteForm,
    ProjectForm,
    RoleForm,
    TokenForm,
    WebhookForm,
)
from webriskops.accounts.services import OrgRole, Refused
from webriskops.auth import throttle
from webriskops.auth.passwords import verify_password
from webriskops.auth.session import current_user, log_in, login_required
from webriskops.auth.tokens import is_usable
from webriskops.errors import ApiError, wants_json
from webriskops.models import Organization
from webriskops.reports.services import role_in
from webriskops.webhooks import service as webhooks
from webriskops.webhooks.ssrf import BlockedDestination

log = logging.getLogger(__name__)

_ID = re.compile(r"[0-9]{1,19}")
PAGE_ERRORS = {
    403: ("Owners only", "Only an owner of this organization can do that. Ask one of them."),
    404: (
        "Not found",
        "There is nothing here, or it belongs to an organization you are not a member of.",
    ),
}


# --- helpers ---------------------------------------------------------------------------------


def _organization(*, owner_only: bool) -> OrgRole:
    """The organization named by ``?org=`` (default: the user's first), checked for the role."""
    raw = request.args.get("org")
    if raw is not None and not _ID.fullmatch(raw):
        abort(404)
    choice = services.pick_organization(current_user(), int(raw) if raw else None)
    if choice is None:
        abort(404)
    if owner_only and not choice.is_owner:
        abort(403)
    return choice


def _require_owner(organization_id: int) -> None:
    if role_in(current_user(), organization_id) != "owner":
        abort(403)


def _render(template: str, choice: OrgRole | None = None, status: int = 200, **context):
    user = current_user()
    html = render_template(
        template,
        current=choice,
        organizations=services.organizations_of(user),
        **context,
    )
    return html, status


def _status() -> int:
    # A form sent with errors is a 400, so clients and tests can tell it from success.
    return 400 if request.method == "POST" else 200


# --- tokens ----------------------------------------------------------------------------------


@bp.get("/settings")
@login_required
def settings():
    """The settings home: the user's own tokens."""
    return redirect(url_for(".tokens"))


@bp.route("/settings/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """List the user's API tokens and create one (shown once)."""
    user = current_user()
    form = TokenForm()
    new_token = None
    error = None
    if form.validate_on_submit():
        try:
            _, new_token = services.create_api_token(
                user, form.name.data or "", form.expires_in_days()
            )
        except Refused as refused:
            error = str(refused)
        else:
            form = TokenForm(formdata=None)
    status = 201 if new_token else (400 if request.method == "POST" else 200)
    # Tokens belong to the person, not to an organization; the organization only feeds the
    # settings navigation (owners see their owner pages there).
    return _render(
        "accounts/tokens.html",
        services.pick_organization(user, None),
        status=status,
        form=form,
        tokens=services.tokens_of(user),
        new_token=new_token,
        error=error,
        usable=is_usable,
    )


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's tokens; it gets 401 from the next request on."""
    token = services.own_token(current_user(), token_id)
    if token is None:
        abort(404)
    services.revoke_api_token(token)
    flash(f"The token “{token.name or token.prefix}” is revoked.", "success")
    return redirect(url_for(".tokens"))


# --- members ---------------------------------------------------------------------------------


@bp.route("/settings/members", methods=["GET", "POST"])
@login_required
def members():
    """Owners: the organization's members and pending invitations; invite someone."""
    choice = _organization(owner_only=True)
    org = choice.organization
    form = InviteForm()
    invitation_link = emailed_to = error = None
    if form.validate_on_submit():
        try:
            invitation, token = services.invite(
                org, current_user(), form.email.data or "", form.role.data
            )
        except Refused as refused:
            error = str(refused)
        else:
            link = url_for(".accept_invitation", token=token, _external=True)
            emailed_to, invitation_link = _send_invitation(org, invitation.email, link)
            form = InviteForm(formdata=None)
    status = 201 if (invitation_link or emailed_to) else _status()
    return _render(
        "accounts/members.html",
        choice,
        status=status,
        form=form,
        members=services.members_of(org),
        invitations=services.pending_invitations(org),
        role_form=RoleForm(),
        invitation_link=invitation_link,
        emailed_to=emailed_to,
        error=error,
    )


def _send_invitation(org: Organization, email: str, link: str) -> tuple[str | None, str | None]:
    """Email the link when SMTP is configured; else (or if sending fails) show it to the owner.

    Sent in the request, not through the queue: the link is a secret and secrets never
    reach the queue. Returns (emailed to, link to show).
    """
    smtp_url = current_app.config.get("SMTP_URL")
    if not smtp_url:
        return None, link
    subject, body = services.invitation_message(org, current_user(), link)
    try:
        notifications.send_email(smtp_url, email, subject, body)
    except Exception as failure:  # noqa: BLE001 - any SMTP trouble: fall back to showing it
        log.warning("invitation email failed: %s", type(failure).__name__)
        flash("The invitation email could not be sent; give the person this link.", "error")
        return None, link
    return email, None


@bp.post("/settings/members/<int:membership_id>/role")
@login_required
def change_role(membership_id: int):
    """Owners: give a member another role (the last owner stays owner)."""
    membership = services.membership_for(current_user(), membership_id)
    if membership is None:
        abort(404)
    _require_owner(membership.organization_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400, "Choose the role owner or member.")
    back = url_for(".members", org=membership.organization_id)
    try:
        changed = services.change_role(membership, form.role.data)
    except Refused as refused:
        flash(str(refused), "error")
        return redirect(back)
    if changed:
        flash(f"{membership.user.email} is now {form.role.data}.", "success")
    if membership.user_id == current_user().id and form.role.data != "owner":
        # The members page is for owners: one who just stepped down would meet a 403.
        return redirect(url_for(".tokens"))
    return redirect(back)


@bp.post("/settings/members/<int:membership_id>/remove")
@login_required
def remove_member(membership_id: int):
    """Owners: remove someone from the organization (never the last owner)."""
    user = current_user()
    membership = services.membership_for(user, membership_id)
    if membership is None:
        abort(404)
    _require_owner(membership.organization_id)
    org_id, email, is_self = (
        membership.organization_id,
        membership.user.email,
        (membership.user_id == user.id),
    )
    try:
        services.remove_member(membership)
    except Refused as refused:
        flash(str(refused), "error")
        return redirect(url_for(".members", org=org_id))
    flash(f"{email} is no longer a member.", "success")
    return redirect(url_for("reports.projects") if is_self else url_for(".members", org=org_id))


@bp.post("/settings/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    """Owners: withdraw a pending invitation."""
    choice = _organization(owner_only=True)
    invitation = services.org_invitation(choice.organization, invitation_id)
    if invitation is None:
        abort(404)
    services.revoke_invitation(invitation)
    flash(f"The invitation of {invitation.email} is withdrawn.", "success")
    return redirect(url_for(".members", org=choice.organization.id))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    """The invitee sets a password (or confirms theirs), joins and is logged in."""
    invitation = services.usable_invitation(token)
    if invitation is None:
        abort(404, "This invitation link is unknown, already used, withdrawn or expired.")
    existing = services.existing_user(invitation.email)
    has_account = existing is not None and existing.password_hash is not None
    form = ExistingAccountForm() if has_account else AcceptInvitationForm()
    error = None
    if form.validate_on_submit():
        password = form.password.data or ""
        address = request.remote_addr or "-"
        limiter = throttle.login_throttle()
        if has_account and limiter.retry_after(invitation.email, address):
            error = "Too many failed attempts. Wait a minute, then try again."
        elif has_account and not verify_password(existing.password_hash, password):
            limiter.failed(invitation.email, address)
            error = "That is not the password of this account."
        else:
            try:
                user = services.accept_invitation(invitation, None if has_account else password)
            except Refused as refused:
                abort(404, str(refused))
            log_in(user)
            flash(f"Welcome to {invitation.organization.name}.", "success")
            return redirect(url_for("reports.projects"))
    status = 400 if request.method == "POST" else 200
    html = render_template(
        "accounts/invitation.html",
        invitation=invitation,
        form=form,
        has_account=has_account,
        error=error,
    )
    return html, status


# --- webhooks --------------------------------------------------------------------------------


@bp.route("/settings/webhooks", methods=["GET", "POST"])
@login_required
def webhooks_page():
    """Owners: the organization's webhook endpoints; add one (secret shown once)."""
    choice = _organization(owner_only=True)
    org = choice.organization
    form = WebhookForm()
    new_secret = new_endpoint = error = None
    if form.validate_on_submit():
        try:
            new_endpoint, new_secret = webhooks.add_endpoint(org, form.url.data or "")
        except (BlockedDestination, webhooks.EndpointRefused) as refused:
            error = f"This URL cannot be used: {refused}."
        else:
            form = WebhookForm(formdata=None)
    status = 201 if new_secret else _status()
    return _render(
        "accounts/webhooks.html",
        choice,
        status=status,
        form=form,
        endpoints=services.endpoints_of(org),
        new_secret=new_secret,
        new_endpoint=new_endpoint,
        error=error,
    )


def _endpoint_for_owner(endpoint_id: int):
    endpoint = services.visible_endpoint(current_user(), endpoint_id)
    if endpoint is None:
        abort(404)
    _require_owner(endpoint.organization_id)
    return endpoint


@bp.get("/settings/webhooks/<int:endpoint_id>")
@login_required
def webhook(endpoint_id: int):
    """Owners: one endpoint's deliveries with every attempt and its answer."""
    return _endpoint_page(_endpoint_for_owner(endpoint_id))


@bp.post("/settings/webhooks/<int:endpoint_id>/disable")
@login_required
def disable_webhook(endpoint_id: int):
    """Owners: stop sending to an endpoint."""
    endpoint = _endpoint_for_owner(endpoint_id)
    webhooks.set_active(endpoint, False, f"disabled by {current_user().email}")
    flash(f"Endpoint {endpoint.url} is disabled.", "success")
    return redirect(url_for(".webhooks_page", org=endpoint.organization_id))


@bp.post("/settings/webhooks/<int:endpoint_id>/enable")
@login_required
def enable_webhook(endpoint_id: int):
    """Owners: send to an endpoint again."""
    endpoint = _endpoint_for_owner(endpoint_id)
    webhooks.set_active(endpoint, True)
    flash(f"Endpoint {endpoint.url} is enabled.", "success")
    return redirect(url_for(".webhooks_page", org=endpoint.organization_id))


@bp.post("/settings/webhooks/<int:endpoint_id>/rotate")
@login_required
def rotate_webhook_secret(endpoint_id: int):
    """Owners: a new signing secret, shown once; the old one stops signing at once."""
    endpoint = _endpoint_for_owner(endpoint_id)
    return _endpoint_page(endpoint, new_secret=webhooks.rotate_secret(endpoint))


def _endpoint_page(endpoint, new_secret: str | None = None):
    """One endpoint's page: its deliveries, and a new secret when one was just made."""
    choice = services.pick_organization(current_user(), endpoint.organization_id)
    return _render(
        "accounts/webhook.html",
        choice,
        endpoint=endpoint,
        deliveries=services.deliveries_of(endpoint),
        new_secret=new_secret,
    )


@bp.post("/settings/webhooks/deliveries/<int:delivery_id>/redeliver")
@login_required
def redeliver(delivery_id: int):
    """Owners: one more attempt of a finished delivery, with the same ``webhook-id``."""
    delivery = services.visible_delivery(current_user(), delivery_id)
    if delivery is None:
        abort(404)
    endpoint_id = delivery.endpoint_id
    _endpoint_for_owner(endpoint_id)
    try:
        attempt = webhooks.redeliver(delivery.id)
    except webhooks.EndpointRefused as refused:
        flash(f"Not redelivered: {refused}.", "error")
    else:
        flash(f"Delivery {delivery_id} is queued again (attempt {attempt}).", "success")
    return redirect(url_for(".webhook", endpoint_id=endpoint_id))


# --- projects and credits --------------------------------------------------------------------


@bp.route("/projects/new", methods=["GET", "POST"])
@login_required
def new_project():
    """Owners: create a project (a name and the site's base URL)."""
    choice = _organization(owner_only=True)
    form = ProjectForm()
    error = None
    if form.validate_on_submit():
        try:
            project = services.create_project(
                choice.organization, form.name.data or "", form.baseUrl.data or ""
            )
        except Refused as refused:
            error = str(refused)
        else:
            flash(f"Project {project.name} is created. Start its first scan here.", "success")
            return redirect(url_for("reports.project", project_id=project.id))
    return _render("accounts/new_project.html", choice, status=_status(), form=form, error=error)


@bp.get("/settings/credits")
@login_required
def credits():
    """Every member: the organization's scan credits and how to get more."""
    choice = _organization(owner_only=False)
    return _render("accounts/credits.html", choice)


# --- errors ----------------------------------------------------------------------------------


@bp.errorhandler(HTTPException)
def _page_error(error: HTTPException):
    status = error.code or 500
    if wants_json():
        code = {400: "BAD_REQUEST", 403: "FORBIDDEN", 404: "NOT_FOUND"}.get(status, "HTTP_ERROR")
        return ApiError(status, code, error.name).response()
    title, message = PAGE_ERRORS.get(status, (error.name, error.description))
    if error.description and error.description != type(error).description:
        message = error.description  # a specific explanation given where the error was raised
    return render_template("error.html", status=status, title=title, message=message), status
