"""Every answer carries the browser-side defences: pages, API JSON and errors alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import smspanel
from smspanel.security_headers import CONTENT_SECURITY_POLICY

TEMPLATES = Path(smspanel.__file__).parent / "templates"
STATIC_JS = Path(smspanel.__file__).parent / "static" / "js"

ALWAYS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@pytest.fixture
def app(app):
    """The web app, plus one route that fails so the 500 page can be checked too."""

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    return app


def assert_defended(response) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, name
    assert "Strict-Transport-Security" not in response.headers  # not in development


def test_the_policy_allows_only_our_own_scripts_and_no_framing():
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/login", 200),
        ("/api/docs", 200),
        ("/api/openapi.json", 200),
        ("/health/live", 200),
        ("/static/css/app.css", 200),
        ("/no-such-page", 404),
        ("/api/no-such-thing", 404),
        ("/api/sms", 401),
        ("/boom", 500),
    ],
)
def test_anonymous_answers_are_defended(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert_defended(response)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/compose", 200), ("/history", 200), ("/admin/users", 200), ("/boom", 500)],
)
def test_logged_in_pages_are_defended_and_never_cached(admin_client, path, status):
    response = admin_client.get(path)
    assert response.status_code == status
    assert_defended(response)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/sms", None, 200),
        ("post", "/api/sms", {"recipient": "1234 5678", "content": "Hello"}, 202),
        ("post", "/api/sms", {"recipient": "nope", "content": "Hello"}, 400),
        ("delete", "/api/sms", None, 405),
        ("get", "/api/sms/999999", None, 404),
    ],
)
def test_api_json_answers_are_defended_and_never_cached(client, make, method, path, body, status):
    response = getattr(client, method)(path, json=body, headers=make.auth())
    assert response.status_code == status
    assert response.is_json
    assert_defended(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_form_rejected_for_its_csrf_token_is_defended(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/login", data={"username": "alice", "password": "x"})
    assert response.status_code == 400
    assert_defended(response)


def test_static_files_may_be_cached(client):
    response = client.get("/static/js/app.js")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_a_view_that_sets_its_own_cache_control_keeps_it(app, client):
    @app.get("/cached")
    def cached():
        return "public", {"Cache-Control": "max-age=60"}

    assert client.get("/cached").headers["Cache-Control"] == "max-age=60"


def test_production_also_insists_on_https(app, client):
    app.config["PRODUCTION"] = True
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_is_sent_only_over_https(app, client):
    app.config["PRODUCTION"] = True
    assert "Strict-Transport-Security" not in client.get("/login").headers
    spoofed = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers, "no proxy is trusted"


def test_hsts_is_sent_when_a_trusted_proxy_says_the_request_was_https(app):
    from smspanel import create_app

    behind_proxy = create_app({**app.config, "TRUSTED_PROXY_HOPS": 1, "PRODUCTION": True})
    client = behind_proxy.test_client()
    forwarded = client.get("/health/live", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in forwarded.headers
    plain = client.get("/health/live", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


INLINE_CODE = {
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "style block": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_templates_hold_no_code_or_styles_the_policy_would_block(template):
    html = template.read_text()
    found = [what for what, pattern in INLINE_CODE.items() if pattern.search(html)]
    assert not found


@pytest.mark.parametrize("script", sorted(STATIC_JS.glob("*.js")), ids=lambda p: p.name)
def test_scripts_use_no_eval_or_injected_styles(script):
    source = script.read_text()
    for forbidden in ("eval(", "new Function", 'setAttribute("style"', "innerHTML", ".cssText"):
        assert forbidden not in source
