"""The API's blueprint, on its own so the route modules can register on it without importing
the package that imports them."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
