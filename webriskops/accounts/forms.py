"""The administration forms; each carries a CSRF token (Flask-WTF) in ``csrf_token``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from webriskops.accounts.services import TOKEN_LIFETIMES_DAYS
from webriskops.ingest.fields import is_storable
from webriskops.models import ROLES

ROLE_CHOICES = [SelectChoice(role, role.capitalize()) for role in ROLES]
MIN_PASSWORD = 8


def _storable(form: FlaskForm, field) -> None:
    # PostgreSQL cannot store NUL characters; say so instead of failing with a 500.
    if isinstance(field.data, str) and not is_storable(field.data):
        raise ValidationError("Remove the control characters from this field.")


def _not_blank(message: str):
    def check(form: FlaskForm, field) -> None:
        if not (field.data or "").strip():
            raise ValidationError(message)

    return check


class TokenForm(FlaskForm):
    """A new API token: a name and an optional lifetime."""

    name = StringField(
        "Name",
        validators=[_not_blank("Give the token a name."), Length(max=100), _storable],
    )
    expires = SelectField(
        "Expires",
        choices=[SelectChoice("", "Never")]
        + [SelectChoice(str(days), f"In {days} days") for days in TOKEN_LIFETIMES_DAYS],
        default="",
    )

    def expires_in_days(self) -> int | None:
        """The chosen lifetime in days, or None for a token that does not expire."""
        return int(self.expires.data) if self.expires.data else None


class InviteForm(FlaskForm):
    """Invite someone by email with a role."""

    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter the email address to invite."),
            Length(max=320),
            Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter a valid email address."),
            _storable,
        ],
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")


class RoleForm(FlaskForm):
    """Change a member's role."""

    role = SelectField("Role", choices=ROLE_CHOICES)


class AcceptInvitationForm(FlaskForm):
    """A new member sets a password."""

    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Choose a password."),
            Length(min=MIN_PASSWORD, max=1024, message="Use 8 to 1024 characters."),
        ],
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[EqualTo("password", message="The two passwords differ.")],
    )


class ExistingAccountForm(FlaskForm):
    """Someone who already has an account proves it with their password."""

    password = PasswordField(
        "Your current password",
        validators=[DataRequired("Enter your password."), Length(max=1024)],
    )


class WebhookForm(FlaskForm):
    """A new webhook endpoint."""

    url = URLField(
        "Endpoint URL",
        validators=[_not_blank("Enter the endpoint's URL."), Length(max=2048), _storable],
    )


class ProjectForm(FlaskForm):
    """A new project: a name and the site's base URL."""

    name = StringField(
        "Name", validators=[_not_blank("Give the project a name."), Length(max=200), _storable]
    )
    baseUrl = URLField(  # noqa: N815 - the contract's field name
        "Base URL",
        validators=[_not_blank("Enter the site's base URL."), Length(max=2048), _storable],
    )
