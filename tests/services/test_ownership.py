"""Who may see which message: a user's scope holds only their messages, EVERYONE holds all."""

from __future__ import annotations

import pytest

from smspanel.models import User, db
from smspanel.services.accounts import delete_user
from smspanel.services.dashboard import dashboard
from smspanel.services.departments import Assignment, assign
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


# --- departments ------------------------------------------------------------------------------


@pytest.fixture
def departments(app, make):
    """Finance (ann; ben, a viewer now) and Clinic (cat); ann's first message was sent from
    Clinic before she moved to Finance, and dan has no department."""
    finance, clinic = make.department("Finance"), make.department("Clinic")
    ann = make.user("ann", department=clinic)
    ben = make.user("ben", department=finance)
    cat = make.user("cat", department=clinic)
    dan = make.user("dan")
    sent = {"ann-from-clinic": make.message(ann, content="ann in clinic")}
    sent["ben-before"] = make.message(ben, content="sent before ben became a viewer")
    with app.app_context():
        assign(db.session, db.session.get(User, ann.id), Assignment(finance.id, "sender"))
        assign(db.session, db.session.get(User, ben.id), Assignment(finance.id, "viewer"))
    sent |= {
        "ann": make.message(ann, content="ann in finance"),
        "cat": make.message(cat, content="cat"),
        "dan": make.message(dan, content="dan"),
    }
    users = {"ann": ann, "ben": ben, "cat": cat, "dan": dan}
    return users, {"finance": finance.id, "clinic": clinic.id}, sent


def test_a_department_member_sees_their_own_and_their_departments_messages(app, departments):
    users, _, sent = departments
    every_id = list(sent.values())
    expected = {
        # ann keeps her own message sent from Clinic, and sees Finance's (not Clinic's others)
        "ann": {sent["ann-from-clinic"], sent["ann"], sent["ben-before"]},
        "ben": {sent["ann"], sent["ben-before"]},
        # Clinic keeps the message ann sent from it, though she has moved
        "cat": {sent["cat"], sent["ann-from-clinic"]},
        "dan": {sent["dan"]},
    }
    with app.app_context():
        department_of = {
            u.username: db.session.get(User, u.id).department_id for u in users.values()
        }
    for name, user in users.items():
        scope = MessageScope.of_user(user.id, department_of[name])
        for path, shown in visible(app, scope, every_id).items():
            assert shown == expected[name], (name, path)


def test_without_a_department_the_scope_is_exactly_the_users_own():
    assert MessageScope.of_user(7, None) == MessageScope.of_user(7)
    assert len(MessageScope.of_user(7).alternatives()) == 1
    assert len(MessageScope.of_user(7, 3).alternatives()) == 2
    with pytest.raises(ValueError):
        MessageScope(user_id=None, everyone=True, department_id=3)


def test_a_departments_listing_pages_by_both_indexes_without_gaps(app, make):
    """Pages by number and by Next/Previous cursors cover the merged listing exactly once,
    newest first, however the sender's and the department's messages interleave."""
    finance = make.department("Finance")
    ann, ben = make.user("ann", department=finance), make.user("ben", department=finance)
    loner = make.user("loner")
    ids = [make.message([ann, ben, loner][n % 3], content=f"m{n}") for n in range(14)]
    wanted = [m for n, m in enumerate(ids) if n % 3 != 2][::-1]
    with app.app_context():
        scope = MessageScope.of_user(ann.id, finance.id)
        by_number = [
            message.id
            for page in (1, 2, 3)
            for message, _ in list_messages(
                db.session, HistoryFilters(page=page), scope, per_page=4
            ).items
        ]
        assert by_number == wanted
        walked, before = [], None
        for page in (1, 2, 3):
            shown = list_messages(
                db.session, HistoryFilters(page=page, before=before), scope, per_page=4
            )
            walked += [message.id for message, _ in shown.items]
            before = shown.items[-1][0].id
        assert walked == wanted
        back = list_messages(db.session, HistoryFilters(page=2, after=walked[8]), scope, per_page=4)
        assert [message.id for message, _ in back.items] == wanted[4:8]
        assert list_messages(db.session, HistoryFilters(), scope, per_page=4).total == 10


def test_a_departments_search_and_filters_read_both_alternatives(app, make):
    finance = make.department("Finance")
    ann, ben = make.user("ann", department=finance), make.user("ben", department=finance)
    mine = make.message(ann, ["61234567"], "Typhoon notice")
    theirs = make.message(ben, ["61234567"], "typhoon drill")
    make.message(make.user("loner"), ["61234567"], "Typhoon elsewhere")
    scope = MessageScope.of_user(ann.id, finance.id)
    with app.app_context():
        for filters in (
            HistoryFilters(search="typhoon"),
            HistoryFilters(search="6123 4567"),
            HistoryFilters(search="6123"),
            HistoryFilters(status="pending"),
        ):
            page = list_messages(db.session, filters, scope)
            assert [message.id for message, _ in page.items] == [theirs, mine], filters


def test_the_api_listing_counts_a_department_members_messages_once(app, make):
    from smspanel.services.api_listing import list_api_messages

    finance = make.department("Finance")
    ann, ben = make.user("ann", department=finance), make.user("ben", department=finance)
    own = [make.message(ann, content=f"a{n}") for n in range(3)]
    colleague = make.message(ben)
    make.message(make.user("loner"))
    with app.app_context():
        first, total = list_api_messages(db.session, ann.id, 1, 3, finance.id)
        second, _ = list_api_messages(db.session, ann.id, 2, 3, finance.id)
        alone, alone_total = list_api_messages(db.session, ann.id, 1, 20)
    assert total == 4 and [m.id for m in first + second] == [colleague, *own[::-1]]
    assert alone_total == 3 and [m.id for m in alone] == own[::-1]


def test_web_scopes_follow_the_readers_department():
    assert readable_by(7, is_admin=False, department_id=3) == MessageScope.of_user(7, 3)
    assert readable_by(7, is_admin=True, department_id=3) is EVERYONE
