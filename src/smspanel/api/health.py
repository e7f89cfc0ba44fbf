"""GET /api/health: whether the API can reach its database, in the API's envelope."""

from __future__ import annotations

from smspanel.api.blueprint import bp
from smspanel.api.operations import operation
from smspanel.api.schemas import HealthData, respond
from smspanel.authz import public
from smspanel.errors import api_error
from smspanel.health import database_reachable


@bp.get("/health")
@public
@operation(
    "Whether the app can reach its database",
    responds=(200, HealthData, "Healthy"),
    errors=(503,),
)
def health():
    """200 when the database answers, 503 when it does not."""
    if not database_reachable():
        return api_error(503, "SERVICE_UNAVAILABLE", "the database cannot be reached")
    return respond(HealthData(database="ok"), "healthy")
