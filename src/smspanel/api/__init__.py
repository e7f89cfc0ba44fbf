"""REST API: JSON in and out, bearer-token authentication, no CSRF."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

# Routes register on import, in this order: the order of /api/openapi.json and /api/docs.
from smspanel.api import auth, sms, health, docs  # noqa: E402,F401,I001
