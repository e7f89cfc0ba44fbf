"""Per-request facts every layer needs: the client's address and who acts, for the audit log."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from smspanel.services.audit import Actor, set_actor


def init_app(app: Flask) -> None:
    hops = app.config.get("TRUSTED_PROXY_HOPS", 0)
    if hops:
        # Behind nginx: trust that many X-Forwarded-For hops for the client's address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    @app.before_request
    def start_actor() -> None:
        """Anonymous until a login or token names the user (gunicorn reuses threads)."""
        channel = "api" if request.path.startswith("/api/") else "web"
        set_actor(Actor(channel=channel, ip_address=request.remote_addr))
