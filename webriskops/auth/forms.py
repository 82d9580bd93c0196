"""Browser forms; every one carries a CSRF token (Flask-WTF) in the ``csrf_token`` field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length, Regexp


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter your email address."),
            Length(max=320),
            Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter a valid email address."),
        ],
    )
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=1024)]
    )


class ActionForm(FlaskForm):
    """A button that changes something (start a scan, retry a report): only the CSRF token."""
