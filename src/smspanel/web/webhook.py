"""The user's webhook on the web (`/account/webhook`): its URL and events, the secret shown
once, rotating it, removing the webhook, and the recent deliveries with a resend each.

Any logged-in user, viewers included: it is the user's own setting, like two-factor
sign-in, and sends nothing. A new secret is shown only in the answer to the POST that made
it, never kept in the session, a cookie or a flash. The rules are in
services/webhooks/subscriptions.py.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from flask_login import current_user

from smspanel.models import WebhookEvent, db
from smspanel.services.pagination import parse_page
from smspanel.services.webhooks import subscriptions
from smspanel.services.webhooks.subscriptions import (
    DeliveryNotFound,
    InvalidWebhook,
    SavedWebhook,
    WebhookNotFound,
)
from smspanel.web.access import login_required, register_error_pages
from smspanel.web.forms import FormProblems, WebhookForm

bp = Blueprint("webhook", __name__, url_prefix="/account/webhook")
register_error_pages(bp)

# What each event means, as the checkboxes say it.
EVENT_LABELS = {
    WebhookEvent.MESSAGE_FINAL: lazy_gettext(
        "A message is finished: every recipient sent, failed, skipped or cancelled"
    ),
    WebhookEvent.RECIPIENT_FINAL: lazy_gettext(
        "Each recipient is finished (sent in batches of up to 1,000 recipients)"
    ),
}
NOT_SAVED = lazy_gettext("The webhook was not saved. Please correct the problems shown below.")


def deliveries_page() -> int:
    return parse_page(request.values.get("page"))


def webhook_page(
    form: WebhookForm,
    errors: dict[str, list[str]] | None = None,
    saved: SavedWebhook | None = None,
    status: int = 200,
):
    """The page; `saved` carries a secret just made, shown in this answer only."""
    user_id = current_user.id
    page = render_template(
        "account_webhook.html",
        form=form,
        errors=errors or {},
        form_problems=FormProblems.of_errors(
            errors or {}, {"url": _("URL"), "events": _("Events")}, NOT_SAVED
        ),
        webhook=subscriptions.get_webhook(db.session, user_id),
        secret=saved.secret if saved else None,
        deliveries=subscriptions.recent_deliveries(db.session, user_id, page=deliveries_page()),
        event_labels=EVENT_LABELS,
        allow_http=current_app.config["WEBHOOK_ALLOW_HTTP"],
    )
    return page, status


def stored_form() -> WebhookForm:
    """The form as the stored webhook fills it; a new one offers `message.final`."""
    webhook = subscriptions.get_webhook(db.session, current_user.id)
    if webhook is None:
        return WebhookForm(formdata=None, url="", events=[WebhookEvent.MESSAGE_FINAL.value])
    return WebhookForm(formdata=None, url=webhook.url, events=list(webhook.events))


def back_to_page():
    page = deliveries_page()
    return redirect(url_for("webhook.account", page=page if page > 1 else None))


@bp.route("", methods=["GET", "POST"], endpoint="account")
@login_required
def account():
    if request.method == "GET":
        return webhook_page(stored_form())
    form = WebhookForm()
    if not form.validate_on_submit():  # only the CSRF token is checked here
        return webhook_page(form, status=400)
    try:
        saved = subscriptions.set_webhook(
            db.session,
            current_user.id,
            form.url.data or "",
            form.events.data or [],
            allow_private=current_app.config["WEBHOOK_ALLOW_HTTP"],
        )
    except InvalidWebhook as exc:
        return webhook_page(form, exc.errors, status=422)
    if saved.created:
        flash(_("Webhook saved. Copy its secret now: it is shown only this once."), "success")
        return webhook_page(stored_form(), saved=saved)
    flash(_("Webhook saved. Its secret is unchanged."), "success")
    return back_to_page()


@bp.post("/secret", endpoint="rotate")
@login_required
def rotate():
    try:
        saved = subscriptions.rotate_secret(db.session, current_user.id)
    except WebhookNotFound:
        flash(_("There is no webhook to make a new secret for."), "error")
        return back_to_page()
    flash(_("New secret made. Copy it now: it is shown only this once."), "success")
    return webhook_page(stored_form(), saved=saved)


@bp.post("/delete", endpoint="delete")
@login_required
def delete():
    try:
        failed = subscriptions.delete_webhook(db.session, current_user.id)
    except WebhookNotFound:
        flash(_("There is no webhook to remove."), "error")
        return back_to_page()
    if failed:
        flash(
            ngettext(
                "Webhook removed; %(num)s pending delivery was stopped.",
                "Webhook removed; %(num)s pending deliveries were stopped.",
                failed,
            ),
            "success",
        )
    else:
        flash(_("Webhook removed."), "success")
    return back_to_page()


@bp.post("/deliveries/<int:delivery_id>/resend", endpoint="resend")
@login_required
def resend(delivery_id: int):
    try:
        subscriptions.resend(db.session, current_user.id, delivery_id)
    except DeliveryNotFound:
        abort(404)  # another user's, or none: the same answer
    except WebhookNotFound:
        flash(_("Not resent: set a webhook first."), "error")
    else:
        flash(_("Delivery %(id)s will be sent again now.", id=delivery_id), "success")
    return back_to_page()
