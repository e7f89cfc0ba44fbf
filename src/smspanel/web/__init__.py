"""The web interface: sessions, CSRF and the page blueprints, on top of the core's services."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup

from smspanel.models import User, db
from smspanel.services import audit
from smspanel.services.departments import may_send, role_label
from smspanel.services.sessions import resolve_session

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = lazy_gettext("Please log in to continue.")
login_manager.login_message_category = "info"
login_manager.localize_callback = str  # the session stores the flash as text, translated now
csrf = CSRFProtect()


@login_manager.user_loader
def load_user(login_id: str) -> User | None:
    """The user of a live server-side login ("<user id>:<token>"), or None: logged out,
    expired, ended by a password change, or the user was disabled or deleted."""
    user_id, _, token = login_id.partition(":")
    if not user_id.isdigit():
        return None
    user = resolve_session(db.session, int(user_id), token)
    if user is not None:
        audit.identify(user)
    return user


def user_content(value: object) -> Markup:
    """A name a user typed (a username in a sentence): marked so that neither a browser's
    translation nor the Chinese page check takes it for interface text."""
    return Markup('<span data-user-content translate="no">{}</span>').format(value)


def init_app(app: Flask) -> None:
    from smspanel.web import (
        admin,
        approvals,
        auth,
        dead_letter,
        departments,
        dnc,
        exports,
        language,
        message_templates,
        opt_outs,
        sms,
        two_factor,
        uploads,
        usage,
        webhook,
    )

    login_manager.init_app(app)
    csrf.init_app(app)
    # The upload forms check their token themselves, once they have raised the body's limit.
    csrf.exempt(uploads.upload)
    csrf.exempt(opt_outs.add)
    csrf.exempt(dnc.upload)

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError):  # type: ignore[no-untyped-def]
        return (
            render_template(
                "error.html",
                title=_("Form expired"),
                message=_(
                    "The form was missing its security token or it had expired, so nothing "
                    "was changed. Go back, reload the page and try again."
                ),
            ),
            400,
        )

    app.add_template_filter(role_label, "role_label")
    app.add_template_filter(user_content, "user_content")

    @app.context_processor
    def roles() -> dict[str, object]:
        def can_send() -> bool:
            """Whether to offer compose and upload: a logged-in user who is not a viewer."""
            return bool(current_user.is_authenticated and may_send(current_user.role))

        return {"can_send": can_send}

    for blueprint in (
        auth.bp,
        sms.bp,
        message_templates.bp,
        admin.bp,
        departments.bp,
        dead_letter.bp,
        exports.bp,
        uploads.bp,
        language.bp,
        opt_outs.bp,
        dnc.bp,
        two_factor.bp,
        usage.bp,
        approvals.bp,
        webhook.bp,
    ):
        app.register_blueprint(blueprint)
