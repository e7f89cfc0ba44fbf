"""The Host header is the client's to choose: no answer may send anyone to the host it names.

Werkzeug's own redirects (a doubled slash merged, a missing trailing slash added: 308) are
built as absolute URLs from the Host header, so `Host: evil.example` would get a redirect to
evil.example. Every redirect to this site is made relative instead. `TRUSTED_HOSTS` (Flask's
setting, read from the environment by config.py) further makes any other Host a 400.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import SecurityError

log = logging.getLogger(__name__)


def relative_location(location: str, host: str) -> str:
    """`location` without its scheme and host when it names `host`: a path, which the
    browser resolves against the host it really reached."""
    parts = urlsplit(location)
    if not parts.netloc or parts.netloc.lower() != host.lower():
        return location
    path = "/" + parts.path.lstrip("/")  # never "//x": a browser reads that as host x
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def init_app(app: Flask) -> None:
    if app.config.get("PRODUCTION") and not app.config.get("TRUSTED_HOSTS"):
        log.warning(
            "TRUSTED_HOSTS is not set: any Host header is accepted; set it to the names "
            "this site is reached by (comma-separated)"
        )

    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError) -> tuple[Response, int] | Response:
        """A Host outside TRUSTED_HOSTS: no page can be built for it (every link on it would
        name that host), so the answer is short and plain."""
        message = "this site is not served under that host name"
        if request.path.startswith("/api/"):
            body = {"error": {"code": "UNTRUSTED_HOST", "message": message}}
            return jsonify(body), 400
        return Response(f"400 Bad Request: {message}\n", 400, mimetype="text/plain")

    @app.after_request
    def relative_redirects(response: Response) -> Response:
        location = response.headers.get("Location")
        if location:
            response.headers["Location"] = relative_location(location, request.host)
        return response
