"""Dashboard figures within a reader's scope (the page itself: tests/web/test_dashboard.py)."""

from __future__ import annotations

from smspanel.models import db
from smspanel.services.dashboard import dashboard
from smspanel.services.ownership import EVERYONE, MessageScope


def test_dashboard_queued_counts_only_pending_recipients_of_the_user(app, make):
    alice = make.user("alice")
    make.message(alice, ["11112222", "33334444"])
    make.message(make.user("bob"), ["55556666"])
    with app.app_context():
        assert dashboard(db.session, MessageScope.of_user(alice.id), None).queued == 2
        assert dashboard(db.session, EVERYONE, None).queued == 3


def test_dashboard_totals_and_recent_messages_keep_to_the_scope(app, make):
    alice, bob = make.user("alice"), make.user("bob")
    mine = make.message(alice, ["11112222", "33334444"])
    theirs = make.message(bob, ["55556666"])
    with app.app_context():
        own = dashboard(db.session, MessageScope.of_user(alice.id), None)
        every = dashboard(db.session, EVERYONE, None)
    assert (own.message_count, [m.id for m, _ in own.recent]) == (1, [mine])
    assert (every.message_count, [m.id for m, _ in every.recent]) == (2, [theirs, mine])
