"""Forms of the UI; every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional

from web.accounts import ROLES


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password", validators=[DataRequired(), Length(min=12, max=1024)])
    repeat = PasswordField(
        "Repeat new password", validators=[DataRequired(), EqualTo("new", "passwords differ")]
    )


class CreateUserForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    role = SelectField("Role", choices=list(ROLES))


class UserActiveForm(FlaskForm):
    active = BooleanField("Active")


class CreateTokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    expires_in_days = IntegerField(
        "Expires after (days)", validators=[Optional(), NumberRange(min=1, max=3650)]
    )


class PlainForm(FlaskForm):
    """A form with nothing but the CSRF token, for buttons (logout, revoke)."""
