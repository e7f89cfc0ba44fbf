"""Sending and following messages: dashboard, compose, history and message detail."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from smspanel.hktime import format_hkt, to_hkt
from smspanel.models import Message, MessageStatus, Priority, RecipientStatus, db, utcnow
from smspanel.services.cancelling import NotCancellable, is_cancellable
from smspanel.services.cancelling import cancel_message as cancel
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
from smspanel.services.departments import check_may_cancel, may_cancel
from smspanel.services.eligibility import (
    REASON_ORDER,
    NoDeliverableRecipients,
    SendPolicy,
    check_lines,
    describe,
    describe_unknown,
    reason_label,
)
from smspanel.services.history import list_messages
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.message_detail import (
    list_recipients,
    recipients_by_id,
    sender_name,
    skip_reasons,
)
from smspanel.services.ownership import MessageScope, find_message, readable_by
from smspanel.services.pagination import parse_page
from smspanel.services.phone import InvalidRecipients, NoRecipients, display_phone
from smspanel.services.quotas import QuotaExceeded, Usage, department_usage
from smspanel.services.scheduling import EARLIEST_AHEAD, LATEST_AHEAD, started_late
from smspanel.services.sending import AcceptedSend, TooManyRecipients, accept_send
from smspanel.services.wording import status_label
from smspanel.web.access import login_required, register_error_pages, sender_required
from smspanel.web.forms import ComposeForm, FormProblems

bp = Blueprint("sms", __name__)
register_error_pages(bp)

PROGRESS_SECONDS = 3  # how often a pending message's page asks progress.json


@bp.app_template_filter("phone")
def phone_filter(phone: str) -> str:
    return display_phone(phone) if phone and len(phone) == 8 else phone


def readers_scope() -> MessageScope:
    """Whose messages the dashboard and message pages show the logged-in user."""
    return readable_by(
        current_user.id, is_admin=current_user.is_admin, department_id=current_user.department_id
    )


def own_scope() -> MessageScope:
    """The logged-in user's own messages and their department's (/history, admins too)."""
    return MessageScope.of_user(current_user.id, current_user.department_id)


def readable_message_or_404(message_id: int) -> Message:
    """The message if the logged-in user may open its page; 404 whether missing or not theirs."""
    message = find_message(db.session, message_id, readers_scope())
    if message is None:
        abort(404)
    return message


@bp.get("/")
@login_required
def dashboard():
    figures = dashboard_figures(db.session, readers_scope(), request.args.get("time_filter"))
    return render_template(
        "dashboard.html", figures=figures, time_filters=TIME_FILTERS, usage=quota_usage()
    )


def compose_labels() -> dict[str, str]:
    """The compose form's fields by name, in their order on the page."""
    return {
        "recipients": _("Recipients"),
        "content": _("Message"),
        "enquiry_number": _("Enquiry number"),
        "scheduled_at": _("Send at"),
        "quota": _("Monthly quota"),
    }


@bp.route("/compose", methods=["GET", "POST"])
@sender_required
def compose():
    form = ComposeForm()
    errors: dict[str, list[str]] = {}
    bad_lines = []
    status = 200
    if form.validate_on_submit():
        try:
            prepared = prepare_send(
                form.recipients.data or "",
                form.content.data or "",
                form.enquiry_number.data or "",
                form.scheduled_at.data or "",
            )
            message = accept_send(
                db.session,
                current_user.id,
                prepared.phones,
                prepared.content,
                prepared.scheduled_at,
                commercial=bool(form.commercial.data),
                priority=Priority.URGENT if form.urgent.data else Priority.NORMAL,
                policy=send_policy(),
            )
        except ComposeRefused as exc:
            errors, bad_lines = exc.errors, exc.invalid_lines
        except NoDeliverableRecipients as exc:
            errors = {"recipients": [str(exc)]}
        except QuotaExceeded as exc:
            errors = {"quota": [str(exc)]}
        except (InvalidContent, InvalidRecipients, NoRecipients, TooManyRecipients) as exc:
            errors = {"content": [str(exc)]}
        else:
            cost = _(
                "This send: %(cost)s.",
                cost=send_cost(message.recipient_count - message.skipped_count, message.segments),
            )
            flash(f"{accepted_note(message)} {cost}", "success")
            flash_number_checks(message)
            return redirect(url_for("sms.message_detail", message_id=message.id))
        status = 422
    policy = send_policy()
    commercial = bool(form.commercial.data)
    statement = policy.unsubscribe_text if commercial else ""
    preview = preview_content(form.content.data or "", form.enquiry_number.data or "", statement)
    recipients_text = form.recipients.data or ""
    deliverable = (
        check_lines(db.session, recipients_text, commercial, policy)[0].deliverable_count
        if recipients_text.strip()
        else 0
    )
    return (
        render_template(
            "compose.html",
            form=form,
            errors=errors,
            form_problems=FormProblems.of_errors(
                errors,
                compose_labels(),
                _("The message was not sent. Please correct the problems shown below."),
            ),
            bad_lines=bad_lines,
            preview=preview,
            stats=content_stats(preview),
            recipient_lines=sum(1 for line in recipients_text.splitlines() if line.strip()),
            recipients=deliverable,
            rules=counter_rules(),
            schedule_window=schedule_window(),
            unsubscribe_text=policy.unsubscribe_text,
            usage=quota_usage(),
        ),
        status,
    )


def quota_usage() -> Usage | None:
    """The month's use of the logged-in user's department, for the pages that send."""
    return department_usage(db.session, current_user.id, utcnow())


def send_policy() -> SendPolicy:
    return SendPolicy.from_settings(current_app.config)


@bp.post("/compose/recipients-check")
@sender_required
def recipients_check():
    """What a send of the compose form's numbers would skip now, for the sentence above the
    send button (static/js/recipients_check.js) and the counter's whole-send cost, which
    counts the `deliverable` (compose.js); the content's size with the unsubscribe
    statement too when commercial. Reads only."""
    commercial = request.form.get("commercial", "") not in ("", "0", "false", "off")
    policy = send_policy()
    checked, invalid = check_lines(
        db.session, request.form.get("recipients", ""), commercial, policy
    )
    answer: dict[str, object] = {
        "total": checked.total,
        "deliverable": checked.deliverable_count,
        "skipped": checked.skipped_count,
        "by_reason": checked.by_reason,
        "unknown": checked.unknown_count,
        "invalid": invalid,
        "summary": describe(checked),
        "unknown_summary": describe_unknown(checked),
    }
    if commercial and "content" in request.form:
        text = preview_content(
            request.form["content"],
            request.form.get("enquiry_number", ""),
            policy.unsubscribe_text,
        )
        stats = content_stats(text)
        answer["commercial_summary"] = _(
            "With the unsubscribe statement: %(characters)s characters, %(segments)s SMS "
            "segment(s) per recipient.",
            characters=stats.characters,
            segments=stats.segments,
        )
    return jsonify(answer)


def flash_number_checks(message: AcceptedSend) -> None:
    """After a send: which numbers were skipped and why, and which the plan did not know."""
    checked = message.eligibility
    if checked is None:
        return
    if checked.skipped_count:
        flash(describe(checked, done=True), "warning")
    if checked.unknown_count:
        flash(describe_unknown(checked), "info")


def schedule_window() -> tuple[str, str]:
    """The `min` and `max` of a `datetime-local` schedule field, in HKT."""
    now = utcnow()
    # The next whole minute that is at least EARLIEST_AHEAD away.
    earliest = to_hkt(now + EARLIEST_AHEAD + timedelta(minutes=1))
    latest = to_hkt(now + LATEST_AHEAD)
    return (
        earliest.strftime("%Y-%m-%dT%H:%M"),  # type: ignore[union-attr]
        latest.strftime("%Y-%m-%dT%H:%M"),  # type: ignore[union-attr]
    )


def accepted_note(message: AcceptedSend) -> str:
    count = message.recipient_count - message.skipped_count
    if message.status == MessageStatus.AWAITING_APPROVAL:
        return ngettext(
            "Message #%(id)s to %(count)s recipient awaits approval: nothing is sent until an "
            "approver of your department approves it.",
            "Message #%(id)s to %(count)s recipients awaits approval: nothing is sent until an "
            "approver of your department approves it.",
            count,
            id=message.id,
            count=format_decimal(count),
        )
    if message.scheduled_at:
        return ngettext(
            "Message #%(id)s is scheduled for %(when)s to %(count)s recipient. Nothing is sent "
            "before then; you can cancel it here until it goes.",
            "Message #%(id)s is scheduled for %(when)s to %(count)s recipients. Nothing is sent "
            "before then; you can cancel it here until it goes.",
            count,
            id=message.id,
            when=format_hkt(message.scheduled_at),
            count=format_decimal(count),
        )
    return ngettext(
        "Message #%(id)s queued for %(count)s recipient. This page updates as it is sent.",
        "Message #%(id)s queued for %(count)s recipients. This page updates as they are sent.",
        count,
        id=message.id,
        count=format_decimal(count),
    )


def send_cost(recipients: int, segments_each: int) -> str:
    """The whole send's cost as the compose preview says it: recipients times segments."""
    return _(
        "%(recipients)s × %(segments)s = %(total)s",
        recipients=ngettext("%(num)s recipient", "%(num)s recipients", recipients),
        segments=ngettext("%(num)s segment", "%(num)s segments", segments_each),
        total=ngettext("%(num)s SMS", "%(num)s SMS", recipients * segments_each),
    )


def history_page(template: str, scope: MessageScope):
    filters = HistoryFilters.from_args(request.args)
    for problem in filters.errors:
        flash(_("Filter ignored: %(problem)s.", problem=problem), "warning")
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
    return history_page("history.html", own_scope())


@bp.get("/history/<int:message_id>")
@login_required
def message_detail(message_id: int):
    message = readable_message_or_404(message_id)
    recipient_status = request.args.get("recipient_status", "")
    if recipient_status not in tuple(RecipientStatus):
        recipient_status = ""
    recipients = list_recipients(
        db.session, message.id, parse_page(request.args.get("page")), recipient_status
    )
    progress = None
    if message.status == MessageStatus.PENDING:
        progress = {
            "seconds": PROGRESS_SECONDS,
            "text": progress_text(message),
            "refresh_url": request.full_path if request.query_string else request.path,
        }
    return render_template(
        "message_detail.html",
        message=message,
        sender=sender_name(db.session, message),
        recipients=recipients,
        recipient_status=recipient_status,
        recipient_statuses=tuple(RecipientStatus),
        progress=progress,
        cancellable=is_cancellable(message) and may_cancel(message, current_user),
        started_late=started_late(message.scheduled_at, message.started_at),
        skip_reasons=skip_reasons(db.session, message.id) if message.skipped_count else {},
        skip_labels={reason: reason_label(reason) for reason in REASON_ORDER},
    )


@bp.get("/history/<int:message_id>/progress.json")
@login_required
def message_progress(message_id: int):
    """A message's figures and the rows its page shows (`ids`, comma-separated), for the
    page's live update (static/js/message_progress.js): the same reader's scope as the page,
    and a recipient only of this message. Words come in the reader's language, so the script
    only places them (as text: it writes no markup)."""
    message = find_message(db.session, message_id, readers_scope())
    if message is None:
        return json_error(404, "NOT_FOUND", _("No such message."))
    raw_ids = [part.strip() for part in request.args.get("ids", "").split(",") if part.strip()]
    if not all(part.isdigit() for part in raw_ids):
        return json_error(
            400, "VALIDATION_ERROR", _("ids: give recipient ids as digits separated by commas.")
        )
    icons = get_template_attribute("_macros.html", "STATUS_ICONS")

    def badge(status: str) -> dict[str, str]:
        return {"status": status, "icon": icons.get(status, "•"), "label": status_label(status)}

    final = message.pending_count == 0
    return jsonify(
        {
            "id": message.id,
            "final": final,
            "status": badge(str(message.status)),
            "counts": {
                "recipients": message.recipient_count,
                "sent": message.sent_count,
                "failed": message.failed_count,
                "pending": message.pending_count,
                "skipped": message.skipped_count,
                "cancelled": message.cancelled_count,
            },
            "text": final_sentence(message) if final else progress_text(message),
            "announcement": final_sentence(message) if final else None,
            "completed_at": moment(message.completed_at),
            "recipients": [
                {
                    "id": recipient.id,
                    "state": f"{recipient.status}:{recipient.attempts}",
                    "status": badge(str(recipient.status)),
                    "skip_reason": recipient.skip_reason,
                    "skip_label": reason_label(recipient.skip_reason)
                    if recipient.skip_reason
                    else None,
                    "error": recipient.error_message or "—",
                    "attempts": recipient.attempts,
                    "sent_at": moment(recipient.sent_at),
                }
                for recipient in recipients_by_id(
                    db.session, message.id, [int(part) for part in raw_ids]
                )
            ],
        }
    )


def moment(value: datetime | None) -> dict[str, str] | None:
    """A time as the page's `when(…, true)` shows it: ISO for `datetime`, HKT for people."""
    if value is None:
        return None
    return {"iso": value.isoformat(), "text": format_hkt(value, True)}


def json_error(status: int, code: str, message: str) -> tuple[Response, int]:
    """The API's error shape, for the one JSON page of a message."""
    return jsonify({"error": {"code": code, "message": message}}), status


def progress_text(message: Message) -> str:
    return _(
        "Still sending: %(pending)s of %(total)s recipients pending.",
        pending=format_decimal(message.pending_count),
        total=format_decimal(message.recipient_count),
    )


def final_sentence(message: Message) -> str:
    """The one sentence a screen reader hears when the page sees the message final."""
    outcomes = [
        _("%(num)s sent", num=format_decimal(message.sent_count)),
        _("%(num)s failed", num=format_decimal(message.failed_count)),
    ]
    if message.skipped_count:
        outcomes.append(_("%(num)s skipped", num=format_decimal(message.skipped_count)))
    if message.cancelled_count:
        outcomes.append(_("%(num)s cancelled", num=format_decimal(message.cancelled_count)))
    return _("All recipients done: %(outcomes)s.", outcomes=_(", ").join(outcomes))


@bp.post("/history/<int:message_id>/cancel")
@sender_required
def cancel_message(message_id: int):
    message = readable_message_or_404(message_id)
    check_may_cancel(message, current_user)
    try:
        result = cancel(db.session, message.id)
    except NotCancellable:
        flash(
            _("Message #%(id)s has finished: nothing was left to cancel.", id=message_id),
            "warning",
        )
    else:
        flash(
            ngettext(
                "Message #%(id)s cancelled: %(count)s recipient will not be sent. Any already "
                "handed to the gateway are shown as sent or failed.",
                "Message #%(id)s cancelled: %(count)s recipients will not be sent. Any already "
                "handed to the gateway are shown as sent or failed.",
                result.cancelled_count,
                id=message_id,
                count=format_decimal(result.cancelled_count),
            ),
            "success",
        )
    return redirect(url_for("sms.message_detail", message_id=message_id))
