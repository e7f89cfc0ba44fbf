"""REST API: JSON in and out, bearer-token authentication, no CSRF."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from smspanel.api import auth, docs, health, sms  # noqa: E402,F401  (routes register on import)
