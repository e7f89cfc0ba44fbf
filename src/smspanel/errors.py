"""Error answers: JSON under /api, plain pages elsewhere; never a traceback to a user."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from smspanel.services.departments import NotAllowed

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


# An error's `details`: the bad fields, one item each, or an object of figures (a quota's).
Details = list[dict[str, Any]] | dict[str, Any]


def api_error(status: int, code: str, message: str, details: Details | None = None):
    """The API's one error shape: {"error": {"code", "message"[, "details"]}}."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="smspanel"'
    return response


class ApiError(Exception):
    """Raised inside an API view to answer with the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Details | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}


# Browser pages' titles and explanations, by status (blueprints add their own 403/404).
ERROR_PAGES = {
    400: (lazy_gettext("Bad request"), lazy_gettext("The request could not be understood.")),
    403: (lazy_gettext("Not allowed"), lazy_gettext("This page is for administrators only.")),
    404: (
        lazy_gettext("Not found"),
        lazy_gettext("There is no such page, or it is not yours to see."),
    ),
    405: (
        lazy_gettext("Not allowed"),
        lazy_gettext("This page cannot be used that way. Go back and try again."),
    ),
    413: (
        lazy_gettext("Too large"),
        lazy_gettext("What was sent is larger than this page accepts."),
    ),
    429: (
        lazy_gettext("Too many attempts"),
        lazy_gettext("Too many failed attempts. Please wait and try again."),
    ),
}


def error_page(status: int):  # type: ignore[no-untyped-def]
    title, message = ERROR_PAGES.get(
        status, (lazy_gettext("Error"), lazy_gettext("The request could not be completed."))
    )
    return render_template("error.html", title=title, message=message), status


def standalone_error_page(status: int, title: str, message: str):  # type: ignore[no-untyped-def]
    """A full page that asks nothing of the account or the database; plain text if even
    that cannot be drawn (the failure may be in the templates)."""
    try:
        page = render_template("error_standalone.html", title=title, message=message)
    except Exception:
        log.exception("the error page could not be drawn")
        return f"{title}: {message}", status, {"Content-Type": "text/plain; charset=utf-8"}
    return page, status


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_failure(exc: ApiError):  # type: ignore[no-untyped-def]
        response = api_error(exc.status, exc.code, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(NotAllowed)
    def not_allowed(exc: NotAllowed):  # type: ignore[no-untyped-def]
        """A role's refusal, wherever it is made (a route's check, or the send's own)."""
        if wants_json():
            return api_error(403, "FORBIDDEN", str(exc))
        return render_template("error.html", title=_("Not allowed"), message=str(exc)), 403

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if not wants_json():
            if exc.code is None or exc.code < 400:
                return exc
            response = error_page(exc.code)
            if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
                return (*response, {"Allow": ", ".join(exc.valid_methods)})  # type: ignore[attr-defined]
            return response
        status = exc.code or 500
        messages = {
            404: f"no such resource: {request.method} {request.path}",
            405: f"method {request.method} is not allowed on {request.path}",
            413: f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes",
            429: "too many failed attempts; retry after the time in the Retry-After header",
        }
        response = api_error(
            status,
            HTTP_CODES.get(status, "HTTP_ERROR"),
            messages.get(status, exc.description or ""),
        )
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(exc: DBAPIError):  # type: ignore[no-untyped-def]
        log.warning("database unavailable: %s", str(exc.orig).replace("\n", " ")[:300])
        from smspanel.models import db

        g.language_without_account = True  # the saved choice would ask the database again
        db.session.rollback()
        if wants_json():
            return api_error(503, "SERVICE_UNAVAILABLE", "the database is unavailable; try again")
        return standalone_error_page(
            503,
            _("Service unavailable"),
            _("Service temporarily unavailable: the database cannot be reached."),
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return api_error(500, "INTERNAL_ERROR", "an unexpected error occurred")
        g.language_without_account = True  # nothing more that could fail again
        return standalone_error_page(
            500,
            _("Something went wrong"),
            _("Internal server error. The problem has been logged; please try again later."),
        )
