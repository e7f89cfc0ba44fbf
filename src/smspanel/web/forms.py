"""The web forms: field names are the contract's; the rules behind them live in services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import EqualTo, InputRequired


class LoginForm(FlaskForm):
    username = StringField("Username")
    password = PasswordField("Password")


class ComposeForm(FlaskForm):
    """Checked by services.compose.prepare_send, which names every problem."""

    recipients = TextAreaField("Recipients")
    content = TextAreaField("Message")
    enquiry_number = StringField("Enquiry number")
    scheduled_at = StringField("Send at")  # YYYY-MM-DDTHH:MM in HKT; empty sends now
    commercial = BooleanField("Commercial")  # UEMO: skips the DNC register, adds unsubscribe


class PasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[InputRequired("enter a password")])
    confirm_password = PasswordField(
        "Confirm new password",
        validators=[
            InputRequired("enter the password again"),
            EqualTo("password", "the two passwords do not match"),
        ],
    )


class CreateUserForm(PasswordForm):
    username = StringField("Username", validators=[InputRequired("enter a username")])
    is_admin = BooleanField("Administrator (can manage users and see every message)")


class TemplateForm(FlaskForm):
    """Checked by services.templates, which names every problem of both fields."""

    name = StringField("Name")
    content = TextAreaField("Message")


class UploadForm(FlaskForm):
    """A file of recipients and its template; read and checked by services.uploads."""

    file = FileField("File of recipients")
    template_id = StringField("Template")


class SendCheckForm(FlaskForm):
    """The check page's send form; checked by services.uploads.send_upload."""

    enquiry_number = StringField("Enquiry number")
    scheduled_at = StringField("Send at (optional)")
    confirm_duplicate = BooleanField("Send it again anyway")
    commercial = BooleanField("Commercial")
