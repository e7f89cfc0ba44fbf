"""`GET /metrics` for Prometheus, and the count of every HTTP request the app answers.

Not a page and not the JSON API: a scraper is no user, so neither the login nor an API
token applies. With `METRICS_TOKEN` set it must send `Authorization: Bearer <token>`
(401 otherwise); without, only a caller on this host may (127.0.0.0/8 or ::1, as the app
sees the address: through `TRUSTED_PROXY_HOPS` behind a proxy; 403 otherwise). Refusals
are a line of text, never the login page. What the metrics are: `services/telemetry.py`.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Flask, Response, current_app, request

from smspanel.authz import SCRAPER, access_rule
from smspanel.models import db, utcnow
from smspanel.services import telemetry

bp = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def count_request(response: Response) -> Response:
        telemetry.count_http_request(request.endpoint, response.status_code)
        return response


@bp.get("/metrics")
@access_rule(SCRAPER)
def metrics() -> Response:
    refusal = refusal_of_scraper()
    if refusal is not None:
        return refusal
    snapshot = telemetry.read_queue_snapshot(db.session, utcnow())
    return Response(telemetry.exposition(snapshot), content_type=telemetry.CONTENT_TYPE)


def refusal_of_scraper() -> Response | None:
    """None when the caller may scrape; else the 401 or 403 to answer."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return None
        return _refuse(
            401,
            "/metrics needs the header Authorization: Bearer <METRICS_TOKEN>",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if from_loopback():
        return None
    return _refuse(403, "/metrics answers only callers on this host unless METRICS_TOKEN is set")


def from_loopback() -> bool:
    """The client's address is this host's. A request forwarded by a proxy the app was not
    told to trust (X-Forwarded-For with TRUSTED_PROXY_HOPS 0) came from elsewhere: the
    loopback address is the proxy's, not the client's."""
    if not current_app.config.get("TRUSTED_PROXY_HOPS") and (
        "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    ):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback


def _refuse(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(f"{message}\n", status, headers, content_type="text/plain; charset=utf-8")
