"""Accounts: who may log in, and administering users, each change all or nothing."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from smspanel.models import ApiToken, AuditEvent, Message, MessageTally, User, db
from smspanel.services import accounts, sessions, tokens
from smspanel.services.accounts import (
    ADMIN_USERNAME,
    UserError,
    authenticate,
    create_user,
    delete_user,
    ensure_admin,
    log_in,
    log_in_for_token,
    regenerate_token,
    reset_password,
    set_active,
    set_password,
)
from smspanel.services.api_listing import list_api_messages
from smspanel.services.sending import accept_send
from smspanel.services.sessions import resolve_session, start_session
from smspanel.services.tokens import authenticate_token
from tests.conftest import PASSWORD

NEW_PASSWORD = "a brand new password"


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def fail(*args, **kwargs):
    raise RuntimeError("the second step failed")


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("ab", "long enough pw", "username"),
        ("has space", "long enough pw", "username"),
        ("bob", "short", "at least 12"),
        ("bob", "elevenchars", "at least 12"),
        ("bobby1234567", "BOBBY1234567", "username"),
        ("bob", "Password1234", "too common"),
        ("bob", "correcthorsebatterystaple", "too common"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(app, username, password, message):
    with app.app_context(), pytest.raises(UserError, match=message):
        create_user(db.session, username, password)


def test_usernames_are_unique_regardless_of_case(app, make):
    make.user("Carol")
    with app.app_context(), pytest.raises(UserError, match="taken"):
        create_user(db.session, "carol", PASSWORD)


def test_a_name_taken_by_a_racing_process_is_refused_and_nothing_is_left_half_made(app, make):
    make.user("dave")
    with app.app_context():
        users_before = db.session.scalar(select(func.count()).select_from(User))
        # What the process that lost the race sees: the unique index refuses its insert.
        assert accounts._add_user(db.session, "dave", PASSWORD, False, "user") is None
        assert db.session.scalar(select(func.count()).select_from(User)) == users_before
        assert audit_actions() == ["user.create"]  # dave's own, nothing of the loser's
        assert create_user(db.session, "erin", PASSWORD).username == "erin"  # session usable


def test_login_needs_the_right_password_and_an_active_account(app, make):
    make.user("dave")
    make.user("erin", active=False)
    with app.app_context():
        assert authenticate(db.session, "dave", PASSWORD).username == "dave"
        assert authenticate(db.session, "dave", "wrong password") is None
        assert authenticate(db.session, "erin", PASSWORD) is None
        assert authenticate(db.session, "nobody", PASSWORD) is None


def test_a_web_login_starts_a_server_side_session_and_a_failed_one_is_recorded(app, make):
    alice = make.user("alice")
    with app.app_context():
        assert log_in(db.session, "alice", "wrong password") is None
        user = log_in(db.session, "alice", PASSWORD, "192.0.2.1")
        token = user.session_token
        db.session.rollback()  # only what was committed counts
        assert resolve_session(db.session, alice.id, token).username == "alice"
        assert audit_actions()[-2:] == ["login.failure", "login.success"]


def test_an_api_login_issues_a_working_token(app, make):
    make.user("alice")
    with app.app_context():
        day = timedelta(hours=24)
        assert log_in_for_token(db.session, "alice", "wrong password", day) is None
        logged_in = log_in_for_token(db.session, "alice", PASSWORD, day)
        db.session.rollback()
        holder = authenticate_token(db.session, logged_in.token)
        assert holder.username == logged_in.user.username == "alice"
        assert db.session.get(ApiToken, holder.token_id).expires_at == logged_in.expires_at


def test_a_login_whose_session_cannot_be_started_is_not_recorded(app, make, monkeypatch):
    alice = make.user("alice")
    monkeypatch.setattr(sessions, "start_session", fail)
    with app.app_context():
        with pytest.raises(RuntimeError):
            log_in(db.session, "alice", PASSWORD)
        assert db.session.get(User, alice.id).last_login_at is None
        assert "login.success" not in audit_actions()


def test_a_password_change_that_fails_midway_keeps_the_old_password(app, make, monkeypatch):
    carol = make.user("carol")
    monkeypatch.setattr(sessions, "end_sessions", fail)
    with app.app_context():
        with pytest.raises(RuntimeError):
            set_password(db.session, db.session.get(User, carol.id), NEW_PASSWORD)
        assert authenticate(db.session, "carol", PASSWORD) is not None
        assert authenticate(db.session, "carol", NEW_PASSWORD) is None
        assert "user.password" not in audit_actions()


def test_disabling_that_fails_midway_leaves_the_user_active(app, make, monkeypatch):
    admin, dave = make.user("boss", is_admin=True), make.user("dave")
    with app.app_context():
        login_token = start_session(db.session, db.session.get(User, dave.id))
    monkeypatch.setattr(sessions, "end_sessions", fail)
    with app.app_context():
        actor, target = db.session.get(User, admin.id), db.session.get(User, dave.id)
        with pytest.raises(RuntimeError):
            set_active(db.session, actor, target, False)
        assert db.session.get(User, dave.id).is_active
        assert resolve_session(db.session, dave.id, login_token) is not None
        assert "user.disable" not in audit_actions()


def test_a_token_regeneration_that_fails_midway_keeps_the_old_token(app, make, monkeypatch):
    bob = make.user("bob")
    old = make.token(bob)
    monkeypatch.setattr(tokens, "issue_token", fail)
    with app.app_context():
        with pytest.raises(RuntimeError):
            regenerate_token(db.session, db.session.get(User, bob.id))
        assert authenticate_token(db.session, old).username == "bob"
        assert "token.revoke" not in audit_actions()


def test_resetting_a_password_ends_every_session_and_re_enables_the_account(app, make):
    erin = make.user("erin", active=False)
    with app.app_context():
        user = db.session.get(User, erin.id)
        old_session = start_session(db.session, user)
        reset_password(db.session, user, NEW_PASSWORD)
        db.session.rollback()
        assert authenticate(db.session, "erin", NEW_PASSWORD) is not None
        assert resolve_session(db.session, erin.id, old_session) is None
        assert audit_actions()[-3:] == ["user.password", "user.enable", "login.success"]


def test_resetting_an_active_accounts_password_records_no_enabling(app, make):
    frank = make.user("frank")
    with app.app_context():
        reset_password(db.session, db.session.get(User, frank.id), NEW_PASSWORD)
        assert audit_actions() == ["user.create", "token.revoke", "user.password"]


def test_a_reset_to_a_weak_password_changes_nothing(app, make):
    gina = make.user("gina", active=False)
    with app.app_context():
        with pytest.raises(UserError, match="at least 12"):
            reset_password(db.session, db.session.get(User, gina.id), "short")
        assert not db.session.get(User, gina.id).is_active


def test_admin_is_created_once_and_never_changed(app):
    with app.app_context():
        generated = ensure_admin(db.session, None)
        assert generated and len(generated) >= 16
        assert ensure_admin(db.session, "another password") is None
        admin = db.session.scalar(select(User).where(User.username == ADMIN_USERNAME))
        assert admin.is_admin and admin.is_active
        assert authenticate(db.session, ADMIN_USERNAME, generated) is not None


def test_a_deleted_users_tally_goes_and_a_new_account_of_that_name_starts_at_zero(app, make):
    admin, alice = make.user("admin", is_admin=True), make.user("alice")
    for n in range(3):
        make.message(alice, content=f"n{n}")
    with app.app_context():
        assert (
            delete_user(db.session, db.session.get(User, admin.id), db.session.get(User, alice.id))
            == 3
        )
        assert db.session.get(MessageTally, alice.id) is None
        # SQLite may even hand the new account the old id: nothing of the old tally is left.
        again = create_user(db.session, "alice", PASSWORD).id
        assert list_api_messages(db.session, again, 1, 20) == ([], 0)
        accept_send(db.session, again, ["12345678"], "first of the new account")
        assert list_api_messages(db.session, again, 1, 20)[1] == 1
        unowned = select(func.count()).select_from(Message).where(Message.user_id.is_(None))
        assert db.session.scalar(unowned) == 3
