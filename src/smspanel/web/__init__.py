"""The web interface: sessions, CSRF and the page blueprints, on top of the core's services."""

from __future__ import annotations

from flask import Flask, render_template
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect

from smspanel.models import User, db

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"
csrf = CSRFProtect()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The session's user, or None once they are disabled or deleted (their session ends)."""
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    if user is None or not user.is_active:
        return None
    return user


def init_app(app: Flask) -> None:
    from smspanel.api import bp as api_bp
    from smspanel.web import admin, auth, dead_letter, sms

    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

    login_manager.init_app(app)
    csrf.init_app(app)
    csrf.exempt(api_bp)  # bearer tokens, plain curl + JSON

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError):  # type: ignore[no-untyped-def]
        return (
            render_template(
                "error.html",
                title="Form expired",
                message="The form was missing its security token or it had expired, so "
                "nothing was changed. Go back, reload the page and try again.",
            ),
            400,
        )

    for blueprint in (auth.bp, sms.bp, admin.bp, dead_letter.bp):
        app.register_blueprint(blueprint)
