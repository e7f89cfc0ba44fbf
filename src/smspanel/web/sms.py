"""Sending and following messages: dashboard, compose, history and message detail."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from smspanel.models import MessageStatus, RecipientStatus, db
from smspanel.services.compose import (
    ComposeRefused,
    content_stats,
    counter_rules,
    prepare_send,
    preview_content,
)
from smspanel.services.content import InvalidContent
from smspanel.services.dashboard import TIME_FILTERS
from smspanel.services.dashboard import dashboard as dashboard_figures
from smspanel.services.history import list_messages
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.message_detail import list_recipients, sender_name
from smspanel.services.ownership import MessageScope, find_message, readable_by
from smspanel.services.pagination import parse_page
from smspanel.services.phone import InvalidRecipients, NoRecipients, display_phone
from smspanel.services.sending import TooManyRecipients, accept_send
from smspanel.web.access import login_required, register_error_pages
from smspanel.web.forms import ComposeForm

bp = Blueprint("sms", __name__)
register_error_pages(bp)

REFRESH_SECONDS = 3


@bp.app_template_filter("phone")
def phone_filter(phone: str) -> str:
    return display_phone(phone) if phone and len(phone) == 8 else phone


def readers_scope() -> MessageScope:
    """Whose messages the dashboard and message pages show the logged-in user."""
    return readable_by(current_user.id, is_admin=current_user.is_admin)


@bp.get("/")
@login_required
def dashboard():
    figures = dashboard_figures(db.session, readers_scope(), request.args.get("time_filter"))
    return render_template("dashboard.html", figures=figures, time_filters=TIME_FILTERS)


@bp.route("/compose", methods=["GET", "POST"])
@login_required
def compose():
    form = ComposeForm()
    errors: dict[str, list[str]] = {}
    bad_lines = []
    status = 200
    if form.validate_on_submit():
        try:
            prepared = prepare_send(
                form.recipients.data or "", form.content.data or "", form.enquiry_number.data or ""
            )
            message = accept_send(db.session, current_user.id, prepared.phones, prepared.content)
        except ComposeRefused as exc:
            errors, bad_lines = exc.errors, exc.invalid_lines
        except (InvalidContent, InvalidRecipients, NoRecipients, TooManyRecipients) as exc:
            errors = {"content": [str(exc)]}
        else:
            count = message.recipient_count
            flash(
                f"Message #{message.id} queued for {count} recipient{'s' if count != 1 else ''}. "
                "This page updates as they are sent.",
                "success",
            )
            return redirect(url_for("sms.message_detail", message_id=message.id))
        status = 422
        flash("The message was not sent. Please correct the problems shown below.", "error")
    preview = preview_content(form.content.data or "", form.enquiry_number.data or "")
    return (
        render_template(
            "compose.html",
            form=form,
            errors=errors,
            bad_lines=bad_lines,
            preview=preview,
            stats=content_stats(preview),
            recipient_lines=sum(
                1 for line in (form.recipients.data or "").splitlines() if line.strip()
            ),
            rules=counter_rules(),
        ),
        status,
    )


def history_page(template: str, scope: MessageScope):
    filters = HistoryFilters.from_args(request.args)
    for problem in filters.errors:
        flash(f"Filter ignored: {problem}.", "warning")
    page = list_messages(db.session, filters, scope)
    return render_template(
        template,
        page=page,
        filters=filters,
        statuses=tuple(MessageStatus),
        endpoint=request.endpoint,
    )


@bp.get("/history")
@login_required
def history():
    return history_page("history.html", MessageScope.of_user(current_user.id))


@bp.get("/history/<int:message_id>")
@login_required
def message_detail(message_id: int):
    message = find_message(db.session, message_id, readers_scope())
    if message is None:
        abort(404)
    recipient_status = request.args.get("recipient_status", "")
    if recipient_status not in tuple(RecipientStatus):
        recipient_status = ""
    recipients = list_recipients(
        db.session, message.id, parse_page(request.args.get("page")), recipient_status
    )
    pending = message.status == MessageStatus.PENDING
    return render_template(
        "message_detail.html",
        message=message,
        sender=sender_name(db.session, message),
        recipients=recipients,
        recipient_status=recipient_status,
        recipient_statuses=tuple(RecipientStatus),
        refresh_seconds=REFRESH_SECONDS if pending else None,
    )
