"""Browser-side defences sent with every response: what may run, frame or leak the page."""

from __future__ import annotations

from flask import Flask, Response, request

# Scripts and styles only from our own files: no inline code, so injected markup cannot run.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# Only in production, and only on an answer over HTTPS (or through a trusted proxy that says
# it was: TRUSTED_PROXY_HOPS and X-Forwarded-Proto): browsers ignore it over plain HTTP, and
# sending it there claims a TLS set-up the deployment may not have.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("PRODUCTION") and request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        if request.endpoint != "static":
            # Every dynamic page shows someone's data or a session-bound form token:
            # neither may be kept by a shared cache or shown again from history after logout.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
