"""Who may see which message: a user's scope holds only their messages, EVERYONE holds all."""

from __future__ import annotations

import pytest

from smspanel.models import User, db
from smspanel.services.accounts import delete_user
from smspanel.services.dashboard import dashboard
from smspanel.services.history import list_messages
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.ownership import EVERYONE, MessageScope, find_message, readable_by


@pytest.fixture
def owners(app, make):
    """Messages of alice, bob and of a deleted account (no owner any more), by owner."""
    admin = make.user("admin", is_admin=True)
    alice, bob, gone = make.user("alice"), make.user("bob"), make.user("gone")
    first = make.message(alice, content="a1")
    messages = {
        "bob": [make.message(bob, content="b1")],
        "alice": [first, make.message(alice, content="a2")],  # one older than bob's, one newer
        None: [make.message(gone, content="g1")],
    }
    with app.app_context():
        delete_user(db.session, db.session.get(User, admin.id), db.session.get(User, gone.id))
    return {"alice": alice.id, "bob": bob.id}, messages


def visible(app, scope: MessageScope, message_ids: list[int]) -> dict[str, set[int]]:
    """Which of `message_ids` each reading path shows within `scope`."""
    with app.app_context():
        found = {m for m in message_ids if find_message(db.session, m, scope) is not None}
        page = list_messages(db.session, HistoryFilters(), scope)
        figures = dashboard(db.session, scope, "7d")
    return {
        "find_message": found,
        "list_messages": {message.id for message, _ in page.items},
        "dashboard": {message.id for message, _ in figures.recent},
    }


def test_a_users_scope_never_holds_another_users_message_and_everyone_holds_all(app, owners):
    user_ids, messages = owners
    every_id = [m for ids in messages.values() for m in ids]
    for name, user_id in user_ids.items():
        own = set(messages[name])
        for path, shown in visible(app, MessageScope.of_user(user_id), every_id).items():
            assert shown == own, (name, path)
    for path, shown in visible(app, EVERYONE, every_id).items():
        assert shown == set(every_id), ("everyone", path)


def test_a_cursor_into_another_users_messages_is_ignored(app, owners):
    """A Next link naming bob's message does not tell alice where it sits among hers."""
    user_ids, messages = owners
    filters = HistoryFilters(before=messages["bob"][0])
    with app.app_context():
        page = list_messages(db.session, filters, MessageScope.of_user(user_ids["alice"]))
    assert {message.id for message, _ in page.items} == set(messages["alice"])


def test_missing_and_foreign_messages_look_the_same(app, owners):
    user_ids, messages = owners
    alice = MessageScope.of_user(user_ids["alice"])
    with app.app_context():
        assert find_message(db.session, messages["bob"][0], alice) is None
        assert find_message(db.session, 10**9, alice) is None
        assert find_message(db.session, 10**9, EVERYONE) is None


def test_a_scope_without_a_user_is_refused_not_everyone():
    with pytest.raises(ValueError):
        MessageScope.of_user(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MessageScope(user_id=7, everyone=True)
    assert MessageScope.of_user(7) != EVERYONE


def test_on_the_web_admins_read_everyones_messages_and_others_their_own():
    assert readable_by(7, is_admin=True) is EVERYONE
    assert readable_by(7, is_admin=False) == MessageScope.of_user(7)
