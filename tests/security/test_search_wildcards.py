"""A search box finds what was typed: `%`, `_` and `\\` are characters, not SQL wildcards,
in every listing (services/text_search.py is the one place a search becomes SQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import smspanel
from smspanel.models import db
from smspanel.services import audit

SOURCES = Path(smspanel.__file__).parent


@pytest.fixture
def targets(app):
    """Audit events whose targets differ only where a wildcard would match anything."""
    with app.app_context():
        for target in ["phone:50% off", "phone:5000 off", "file:a_b", "file:axb", "path:a\\b"]:
            audit.record(db.session, "opt_out.add", target)
        db.session.commit()


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("50%", ["phone:50% off"]),
        ("%", ["phone:50% off"]),
        ("a_b", ["file:a_b"]),
        ("_", ["file:a_b"]),
        ("a\\b", ["path:a\\b"]),
        ("OFF", ["phone:50% off", "phone:5000 off"]),
    ],
)
def test_the_audit_search_matches_wildcards_literally(app, targets, search, found):
    with app.app_context():
        events = audit.list_events(db.session, search=search)
        assert sorted(event.target for event in events.items) == found


def test_the_audit_page_search_matches_a_percent_literally(app, client, make, targets):
    from tests.web.conftest import login, page_text

    make.user("boss", is_admin=True)
    login(client, "boss")
    text = page_text(client.get("/admin/audit?search=%25"))
    assert "phone:50% off" in text and "phone:5000 off" not in text


def test_the_history_search_matches_wildcards_literally(app, client, make):
    from tests.web.conftest import login, page_text

    user = make.user("alice")
    make.message(user, content="Sale: 50% off today")
    make.message(user, content="Sale: 5000 items today")
    login(client, "alice")
    text = page_text(client.get("/history?search=50%25"))
    assert "50% off today" in text and "5000 items" not in text


def test_no_listing_builds_its_own_pattern():
    """Every LIKE in the app goes through services/text_search.py."""
    pattern = re.compile(r"\.(like|ilike|not_like|contains)\(|autoescape| LIKE ")
    offenders = [
        f"{path.relative_to(SOURCES)}:{number}"
        for path in SOURCES.rglob("*.py")
        if path.name != "text_search.py" and "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
