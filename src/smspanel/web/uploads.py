"""Sends from a file: upload it with a template, check every row, send the rows without
problems (services/uploads.py holds the rules)."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from smspanel.models import Priority, db, utcnow
from smspanel.services.eligibility import (
    REASON_ORDER,
    describe,
    describe_unknown,
    reason_label,
)
from smspanel.services.recipient_files import MAX_ROWS
from smspanel.services.templates import list_templates
from smspanel.services.uploads import (
    SendRefused,
    UploadGone,
    UploadRefused,
    check_upload,
    file_size,
    find_upload,
    send_upload,
    store_upload,
    too_large_message,
)
from smspanel.web.access import register_error_pages, sender_required
from smspanel.web.file_parts import accepts_files, check_file_parts
from smspanel.web.forms import FormProblems, SendCheckForm, UploadForm
from smspanel.web.sms import (
    accepted_note,
    flash_number_checks,
    quota_usage,
    readers_scope,
    schedule_window,
    send_policy,
)

bp = Blueprint("uploads", __name__)
register_error_pages(bp)

FORM_ALLOWANCE = 64 * 1024  # the form's other field and the multipart framing around the file
DRAIN_TIMES_THE_LIMIT = 4
MAX_PROBLEMS_SHOWN = 100


def check_csrf() -> None:
    """The upload view is exempt from the app-wide check, which would read the body under the
    app's smaller limit (web/__init__.py); it checks the token itself, after its own limit."""
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        current_app.extensions["csrf"].protect()


def drain_body(at_most: int) -> None:
    """Read and drop a body refused for its size, so the browser gets to read the answer:
    gunicorn closes a connection with unread data, which a browser shows as a reset. A body
    declared larger than `at_most` is not read; that connection is simply cut."""
    length = request.content_length or 0
    stream = request.environ.get("wsgi.input")
    if stream is None or length > at_most:
        return
    while length > 0:
        chunk = stream.read(min(length, 1 << 20))
        if not chunk:
            return
        length -= len(chunk)


def upload_gone():
    return (
        render_template(
            "error.html",
            title=_("Upload not found"),
            message=_(
                "There is no such upload: it was sent already, it expired (an unsent upload "
                "is kept for a day), or it is not yours. Upload the file again."
            ),
        ),
        404,
    )


@bp.route("/send/upload", methods=["GET", "POST"])
@accepts_files("file")
@sender_required
def upload():
    max_bytes = current_app.config["UPLOAD_MAX_BYTES"]
    selected = request.args.get("template_id", "")
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        request.max_content_length = max_bytes + FORM_ALLOWANCE
        try:
            request.files  # noqa: B018  (reads the body, under the limit just set)
        except RequestEntityTooLarge:
            drain_body(DRAIN_TIMES_THE_LIMIT * max_bytes)
            errors = {"file": [too_large_message(request.content_length, max_bytes)]}
            status = 413
        else:
            check_csrf()
            check_file_parts()
            form = UploadForm(meta={"csrf": False})
            selected = (form.template_id.data or "").strip()
            file = request.files.get("file")
            try:
                upload_id = store_upload(
                    db.session,
                    current_user.id,
                    int(selected) if selected.isdigit() else None,
                    (file.filename or "") if file else "",
                    file.read() if file else b"",
                    max_bytes,
                    utcnow(),
                )
            except UploadRefused as exc:
                errors, status = exc.errors, 422
            else:
                return redirect(url_for("uploads.check", upload_id=upload_id))
    return (
        render_template(
            "send_upload.html",
            templates=list_templates(db.session),
            selected=selected,
            errors=errors,
            form_problems=FormProblems.of_errors(
                errors,
                {"template_id": _("Template"), "file": _("File")},
                _("The file was not uploaded. Please correct the problems shown below."),
            ),
            max_size=file_size(max_bytes),
            max_rows=MAX_ROWS,
        ),
        status,
    )


@bp.route("/send/check/<upload_id>", methods=["GET", "POST"])
@sender_required
def check(upload_id: str):
    now = utcnow()
    upload = find_upload(db.session, upload_id, current_user.id, now)
    if upload is None:
        return upload_gone()
    form = SendCheckForm()
    errors: dict[str, list[str]] = {}
    status = 200
    try:
        if form.validate_on_submit():
            try:
                sent = send_upload(
                    db.session,
                    upload,
                    current_user.id,
                    enquiry=form.enquiry_number.data or "",
                    scheduled_at=form.scheduled_at.data or "",
                    confirm_duplicate=bool(form.confirm_duplicate.data),
                    now=now,
                    commercial=bool(form.commercial.data),
                    priority=Priority.URGENT if form.urgent.data else Priority.NORMAL,
                    policy=send_policy(),
                )
            except SendRefused as exc:
                report, errors, status = exc.check, exc.errors, 422
            else:
                flash(accepted_note(sent), "success")
                flash_number_checks(sent)
                return redirect(url_for("sms.message_detail", message_id=sent.id))
        else:
            report = check_upload(db.session, upload, now, policy=send_policy())
    except UploadGone:
        return upload_gone()
    return (
        render_template(
            "send_check.html",
            report=report,
            form=form,
            errors=errors,
            form_problems=FormProblems.of_errors(
                errors,
                {
                    "file": _("File"),
                    "enquiry_number": _("Enquiry number"),
                    "scheduled_at": _("Send at"),
                    "confirm_duplicate": _("Send again"),
                    "commercial": _("Commercial message"),
                    "quota": _("Monthly quota"),
                },
                _("Nothing was sent. Please correct the problems shown below."),
                ids={"file": "file-summary"},  # quota: the usage line, id "quota"
            ),
            scope=readers_scope(),
            max_problems=MAX_PROBLEMS_SHOWN,
            schedule_window=schedule_window(),
            unsubscribe_text=send_policy().unsubscribe_text,
            skip_labels={reason: reason_label(reason) for reason in REASON_ORDER},
            describe=describe,
            describe_unknown=describe_unknown,
            usage=quota_usage(),
        ),
        status,
    )
