"""GET /api/health: whether the API can reach its database, in the API's envelope."""

from __future__ import annotations

from flask import jsonify

from smspanel.api import bp
from smspanel.authz import public
from smspanel.errors import api_error
from smspanel.health import database_reachable


@bp.get("/health")
@public
def health():
    """200 when the database answers, 503 when it does not."""
    if not database_reachable():
        return api_error(503, "SERVICE_UNAVAILABLE", "the database cannot be reached")
    return jsonify({"success": True, "data": {"database": "ok"}, "message": "healthy"})
