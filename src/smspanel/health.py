"""Liveness and readiness for load balancers and process supervisors."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from smspanel.authz import public
from smspanel.models import db

bp = Blueprint("health", __name__)


def database_reachable() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return True
    except Exception:
        db.session.rollback()
        return False


@bp.get("/health/live")
@public
def live():
    """The process is up and answering."""
    return jsonify({"status": "ok"})


@bp.get("/health/ready")
@public
def ready():
    """Ready to serve: the database answers."""
    if database_reachable():
        return jsonify({"status": "ok", "database": "ok"})
    return jsonify({"status": "unavailable", "database": "unreachable"}), 503
