"""The web forms: field names are the contract's; the rules behind them live in services.

Every validator carries its own message, translated by our catalog: WTForms' built-in
messages (and their Taiwan and Mainland catalogs) never reach a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    PasswordField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import EqualTo, InputRequired

# What a refused form's error summary says first, under its heading "There is a problem".
THERE_IS_A_PROBLEM = lazy_gettext("There is a problem")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a refused form: `field` is the id of the control the error
    summary links to (None when no one control is at fault)."""

    field: str | None
    label: str
    message: str


class FormProblems:
    """Every problem of a refused form at once, in the order of its fields. A page given one
    as `form_problems` shows the focused error summary and prefixes its title with "Error:"
    (templates/base.html); each field shows its own messages (`of`)."""

    def __init__(self, outcome: str = "") -> None:
        self.outcome = outcome  # what the refusal means, e.g. "The user was not created."
        self._problems: list[Problem] = []

    def add(self, field: str | None, label: object, message: object) -> None:
        self._problems.append(Problem(field, str(label), str(message)))

    def of(self, field: str) -> list[str]:
        return [problem.message for problem in self._problems if problem.field == field]

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._problems)

    def __len__(self) -> int:
        return len(self._problems)

    def __bool__(self) -> bool:
        return bool(self._problems)

    @classmethod
    def of_form(
        cls, form: FlaskForm, outcome: object = "", labels: Mapping[str, object] | None = None
    ) -> FormProblems:
        """A WTForms form's errors, field by field (the control's id is the field's name);
        `labels` gives the page's order and wording where they differ from the form's."""
        errors = {
            field.name: field.errors
            for field in form
            if field.errors and field.name != "csrf_token"  # CSRFProtect answers those: 400
        }
        page_labels = {**(labels or {})}
        for field in form:
            page_labels.setdefault(field.name, field.label.text)
        return cls.of_errors(errors, page_labels, outcome)

    @classmethod
    def of_errors(
        cls,
        errors: Mapping[str, Iterable[object]],
        labels: Mapping[str, object],
        outcome: object = "",
        ids: Mapping[str, str | None] | None = None,
    ) -> FormProblems:
        """A service's errors by field name (in the order of `labels`, the form's fields,
        then any others), each shown with its field's label."""
        problems = cls(str(outcome))
        order = [name for name in labels if name in errors]
        order += [name for name in errors if name not in labels]
        for name in order:
            field = (ids or {}).get(name, name)
            for message in errors[name]:
                problems.add(field, labels.get(name, name), message)
        return problems


class LoginForm(FlaskForm):
    username = StringField(lazy_gettext("Username"))
    password = PasswordField(lazy_gettext("Password"))


class TwoFactorCodeForm(FlaskForm):
    """/login/2fa and the enrolment's confirmation; checked by services.two_factor."""

    code = StringField(lazy_gettext("Code"))


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField(lazy_gettext("Password"))
    code = StringField(lazy_gettext("Code"))


class ComposeForm(FlaskForm):
    """Checked by services.compose.prepare_send, which names every problem."""

    recipients = TextAreaField(lazy_gettext("Recipients"))
    content = TextAreaField(lazy_gettext("Message"))
    enquiry_number = StringField(lazy_gettext("Enquiry number"))
    scheduled_at = StringField(lazy_gettext("Send at"))  # YYYY-MM-DDTHH:MM in HKT; empty sends now
    commercial = BooleanField(
        lazy_gettext("Commercial")
    )  # UEMO: skips the DNC register, adds unsubscribe
    urgent = BooleanField(lazy_gettext("Urgent"))  # before every queued normal recipient


class PasswordForm(FlaskForm):
    password = PasswordField(
        lazy_gettext("New password"), validators=[InputRequired(lazy_gettext("enter a password"))]
    )
    confirm_password = PasswordField(
        lazy_gettext("Confirm new password"),
        validators=[
            InputRequired(lazy_gettext("enter the password again")),
            EqualTo("password", lazy_gettext("the two passwords do not match")),
        ],
    )


class AssignmentForm(FlaskForm):
    """A user's department and role; checked by services.departments.read_assignment (a
    forged id or role is named there, not silently dropped by a choice list)."""

    department_id = StringField(lazy_gettext("Department"))
    role = StringField(lazy_gettext("Role"))


class CreateUserForm(PasswordForm, AssignmentForm):
    username = StringField(
        lazy_gettext("Username"), validators=[InputRequired(lazy_gettext("enter a username"))]
    )
    is_admin = BooleanField(lazy_gettext("Administrator (can manage users and see every message)"))


class DepartmentForm(FlaskForm):
    """Checked by services.departments.create_department."""

    name = StringField(lazy_gettext("Name"))


class DepartmentLimitsForm(FlaskForm):
    """Checked by services.departments.update_limits: whole numbers, 0 for none."""

    monthly_segment_quota = StringField(lazy_gettext("Monthly segment quota"))
    approval_threshold = StringField(lazy_gettext("Approval threshold"))


class TemplateForm(FlaskForm):
    """Checked by services.templates, which names every problem of both fields."""

    name = StringField(lazy_gettext("Name"))
    content = TextAreaField(lazy_gettext("Message"))


class UploadForm(FlaskForm):
    """A file of recipients and its template; read and checked by services.uploads."""

    file = FileField(lazy_gettext("File of recipients"))
    template_id = StringField(lazy_gettext("Template"))


class SendCheckForm(FlaskForm):
    """The check page's send form; checked by services.uploads.send_upload."""

    enquiry_number = StringField(lazy_gettext("Enquiry number"))
    scheduled_at = StringField(lazy_gettext("Send at (optional)"))
    confirm_duplicate = BooleanField(lazy_gettext("Send it again anyway"))
    commercial = BooleanField(lazy_gettext("Commercial"))
    urgent = BooleanField(lazy_gettext("Urgent"))


class RegenerateTokenForm(FlaskForm):
    """A user's new API token; the lifetime is checked by services.tokens.expiry_in_days."""

    expires_in_days = StringField(lazy_gettext("Expires in (days, optional)"))


class RejectForm(FlaskForm):
    """An approver's rejection; the reason is checked by services.approvals.clean_reason."""

    reason = TextAreaField(lazy_gettext("Reason"))


class WebhookForm(FlaskForm):
    """/account/webhook; checked by services.webhooks.subscriptions, which names every
    problem (a forged event value included, so the choices are not checked here)."""

    url = StringField(lazy_gettext("URL"))
    events = SelectMultipleField(lazy_gettext("Events"), validate_choice=False)
