"""The approvals page: approvers and admins see the sends waiting for a second person, and
approve or reject them (services/approvals.py holds the rules)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from smspanel.errors import ERROR_PAGES
from smspanel.hktime import format_hkt
from smspanel.models import MessageStatus, db, utcnow
from smspanel.services import approvals
from smspanel.services.eligibility import REASON_ORDER, reason_label
from smspanel.services.pagination import parse_page
from smspanel.web.access import login_required, register_error_pages
from smspanel.web.forms import FormProblems, RejectForm

bp = Blueprint("approvals", __name__, url_prefix="/approvals")
register_error_pages(bp)


def refused(status: int, message: str):
    return render_template("error.html", title=ERROR_PAGES[status][0], message=message), status


def approver_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in (the access rule) and an approver or admin; anyone else gets 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not approvals.may_approve(current_user):
            return refused(403, str(approvals.NotAnApprover()))
        return view(*args, **kwargs)

    return login_required(wrapper)


@bp.app_context_processor
def approvals_badge() -> dict[str, Any]:
    """`waiting_approvals()` for the navigation: None for those who cannot approve (no
    query at all), else one COUNT, run only when the page's navigation asks; and
    `may_approve_sends()`, which asks nothing of the database."""

    def may_approve_sends() -> bool:
        return bool(current_user.is_authenticated) and approvals.may_approve(current_user)

    def waiting_approvals() -> int | None:
        if not may_approve_sends():
            return None
        return approvals.waiting_count(db.session, current_user)

    return {"waiting_approvals": waiting_approvals, "may_approve_sends": may_approve_sends}


def approvals_page(
    status: int = 200,
    errors: dict[int, list[str]] | None = None,
    reasons: dict[int, str] | None = None,
):
    problems = FormProblems()
    for message_id, messages in (errors or {}).items():
        problems.outcome = _("Message #%(id)s was not rejected.", id=message_id)
        label = _("Reason for rejecting message #%(id)s", id=message_id)
        for message in messages:
            problems.add(f"reason-{message_id}", label, message)
    page = approvals.list_waiting(db.session, current_user, parse_page(request.args.get("page")))
    return (
        render_template(
            "approvals.html",
            page=page,
            errors=errors or {},
            form_problems=problems,
            reasons=reasons or {},
            max_reason=approvals.MAX_REASON_CHARS,
            now=utcnow(),
            skip_labels={reason: reason_label(reason) for reason in REASON_ORDER},
        ),
        status,
    )


def back_to_list():
    page = request.form.get("page") or request.args.get("page")
    return redirect(
        url_for("approvals.index", page=page if page and page.isdigit() and page != "1" else None)
    )


@bp.get("")
@approver_required
def index():
    return approvals_page()


def decided(decide: Callable[[], approvals.Decision]):
    """Run a decision and answer as the web does: 403/404 pages for what the user may not
    do, a flash for a send no longer waiting."""
    try:
        return decide()
    except approvals.NotAnApprover as exc:
        return refused(403, str(exc))
    except approvals.OwnSend as exc:
        return refused(403, str(exc))
    except approvals.WaitingSendNotFound:
        abort(404)
    except approvals.NotAwaitingApproval as exc:
        flash(str(exc), "warning")
        return back_to_list()


@bp.post("/<int:message_id>/approve")
@approver_required
def approve(message_id: int):
    outcome = decided(lambda: approvals.approve(db.session, message_id, current_user.id))
    if not isinstance(outcome, approvals.Decision):
        return outcome
    flash(approved_note(outcome), "success")
    return back_to_list()


def approved_note(decision: approvals.Decision) -> str:
    if decision.status == MessageStatus.SCHEDULED:
        return _(
            "Message #%(id)s approved: it is scheduled for %(when)s.",
            id=decision.message_id,
            when=format_hkt(decision.scheduled_at),
        )
    if decision.late:
        return _(
            "Message #%(id)s approved after its scheduled time had passed: it is being sent "
            "now and is shown as late.",
            id=decision.message_id,
        )
    return _("Message #%(id)s approved: it is being sent now.", id=decision.message_id)


@bp.post("/<int:message_id>/reject")
@approver_required
def reject(message_id: int):
    form = RejectForm()
    reason = form.reason.data or ""
    try:
        approvals.clean_reason(reason)
    except approvals.InvalidReason as exc:
        return approvals_page(422, {message_id: [str(exc)]}, {message_id: reason})
    outcome = decided(lambda: approvals.reject(db.session, message_id, current_user.id, reason))
    if not isinstance(outcome, approvals.Decision):
        return outcome
    flash(
        _(
            "Message #%(id)s rejected: nothing will be sent. Its maker sees your reason on the "
            "message's page.",
            id=message_id,
        ),
        "success",
    )
    return back_to_list()
