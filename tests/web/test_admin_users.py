"""User administration: the whole lifecycle, and the refusals that keep an admin in charge."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from smspanel.models import ApiToken, AuditEvent, Message, User, db
from smspanel.services.tokens import authenticate_token
from tests.conftest import PASSWORD
from tests.web.conftest import login, page_text

ADMIN_PAGES = [
    ("get", "/admin/users"),
    ("get", "/admin/users/create"),
    ("post", "/admin/users/create"),
    ("get", "/admin/users/{id}"),
    ("post", "/admin/users/{id}"),
    ("get", "/admin/departments"),
    ("post", "/admin/departments"),
    ("get", "/admin/users/{id}/password"),
    ("post", "/admin/users/{id}/password"),
    ("post", "/admin/users/{id}/toggle"),
    ("get", "/admin/users/{id}/delete"),
    ("post", "/admin/users/{id}/delete"),
    ("post", "/admin/users/{id}/regenerate_token"),
    ("get", "/admin/messages"),
    ("get", "/admin/dead-letter"),
    ("post", "/admin/dead-letter/retry-all"),
    ("post", "/admin/dead-letter/1/retry"),
    ("post", "/admin/dead-letter/1/abandon"),
]


def get_user(app, username: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            db.session.expunge(user)
        return user


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_admin_pages_are_forbidden_to_other_users(app, user_client, user, method, path):
    response = getattr(user_client, method)(path.format(id=user.id))
    assert response.status_code == 403
    assert "administrators only" in page_text(response)
    assert get_user(app, user.username).is_active


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES[:3])
def test_admin_pages_need_a_login(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 302 and response.location.startswith("/login")


def test_users_list_shows_status_role_dates_and_row_actions(admin_client, admin, make):
    bob = make.user("bob")
    html = admin_client.get("/admin/users").get_data(as_text=True)
    row = html[html.index(f'id="user-{bob.id}"') :]
    row = row[: row.index("</tr>")]
    assert "Active" in row and "User" in row and "HKT" in row and "Never" in row
    for action in (
        f"/admin/users/{bob.id}/password",
        f"/admin/users/{bob.id}/toggle",
        f"/admin/users/{bob.id}/regenerate_token",
        f"/admin/users/{bob.id}/delete",
    ):
        assert action in row
    assert row.count('name="csrf_token"') == 2  # the toggle and token forms
    own = html[html.index(f'id="user-{admin.id}"') :]
    own = own[: own.index("</tr>")]
    assert "/toggle" not in own and "/delete" not in own  # no buttons that would be refused


def test_create_user(app, admin_client):
    response = admin_client.post(
        "/admin/users/create",
        data={
            "username": "dora",
            "password": "a long password",
            "confirm_password": "a long password",
            "is_admin": "y",
        },
    )
    assert response.status_code == 302 and response.location == "/admin/users"
    dora = get_user(app, "dora")
    assert dora.is_admin and dora.is_active
    assert "Created administrator dora." in page_text(admin_client.get("/admin/users"))


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        (
            {"username": "", "password": "a long password", "confirm_password": "a long password"},
            "enter a username",
        ),
        (
            {
                "username": "x!",
                "password": "a long password",
                "confirm_password": "a long password",
            },
            "username must be 3-64 characters",
        ),
        (
            {"username": "dora", "password": "short", "confirm_password": "short"},
            "password must be at least 12 characters",
        ),
        (
            {"username": "dora", "password": "a long password", "confirm_password": "different"},
            "the two passwords do not match",
        ),
        (
            {
                "username": "boss",
                "password": "a long password",
                "confirm_password": "a long password",
            },
            "username 'boss' is already taken",
        ),
    ],
)
def test_create_user_refusals_name_the_problem_and_keep_the_username(
    app, admin_client, form, problem
):
    response = admin_client.post("/admin/users/create", data=form)
    assert response.status_code == 422
    assert problem in page_text(response)
    if form["username"]:
        assert f'value="{form["username"]}"' in response.get_data(as_text=True)
    assert get_user(app, "dora") is None


def test_change_password(app, admin_client, client, make):
    bob = make.user("bob")
    response = admin_client.post(
        f"/admin/users/{bob.id}/password",
        data={"password": "new password 1", "confirm_password": "new password 1"},
    )
    assert response.location == "/admin/users"
    assert "Password changed for bob." in page_text(admin_client.get("/admin/users"))
    admin_client.post("/logout")
    assert login(client, "bob", PASSWORD).status_code == 401
    assert login(client, "bob", "new password 1").status_code == 302


@pytest.mark.parametrize(
    ("password", "confirm", "problem"),
    [
        ("short", "short", "at least 12 characters"),
        ("long enough 1", "long enough 2", "do not match"),
        ("", "", "enter a password"),
    ],
)
def test_change_password_refusals(admin_client, make, password, confirm, problem):
    bob = make.user("bob")
    response = admin_client.post(
        f"/admin/users/{bob.id}/password", data={"password": password, "confirm_password": confirm}
    )
    assert response.status_code == 422 and problem in page_text(response)


def test_disable_and_enable(app, admin_client, make):
    bob = make.user("bob")
    admin_client.post(f"/admin/users/{bob.id}/toggle")
    assert not get_user(app, "bob").is_active
    assert "bob is now disabled." in page_text(admin_client.get("/admin/users"))
    admin_client.post(f"/admin/users/{bob.id}/toggle")
    assert get_user(app, "bob").is_active
    assert "bob is now enabled." in page_text(admin_client.get("/admin/users"))


def test_an_admin_cannot_disable_or_delete_themself(app, admin_client, admin):
    admin_client.post(f"/admin/users/{admin.id}/toggle")
    assert "you cannot disable your own account" in page_text(admin_client.get("/admin/users"))
    admin_client.post(f"/admin/users/{admin.id}/delete")
    assert "you cannot delete your own account" in page_text(admin_client.get("/admin/users"))
    assert get_user(app, admin.username).is_active
    confirm = page_text(admin_client.get(f"/admin/users/{admin.id}/delete"))
    assert "You cannot delete your own account" in confirm


def test_the_last_active_admin_cannot_be_disabled_or_deleted(app, client, make):
    """Even by another admin whose own account is the one disabled mid-session."""
    first = make.user("first", is_admin=True)
    second = make.user("second", is_admin=True)
    login(client, "second")
    client.post(f"/admin/users/{first.id}/toggle")  # first is disabled: second is the last one
    assert not get_user(app, "first").is_active
    from smspanel.services import accounts

    with app.app_context():
        actor = db.session.get(User, first.id)
        target = db.session.get(User, second.id)
        for action in (
            lambda: accounts.set_active(db.session, actor, target, False),
            lambda: accounts.delete_user(db.session, actor, target),
        ):
            with pytest.raises(accounts.UserError, match="last active admin"):
                action()
    assert get_user(app, "second").is_active


def test_regenerating_a_token_revokes_the_old_ones_and_shows_the_new_one_once(
    app, admin_client, make
):
    bob = make.user("bob")
    old = make.token(bob)
    shown = admin_client.post(f"/admin/users/{bob.id}/regenerate_token")
    assert shown.status_code == 200, "the token is shown in the POST's own answer"
    assert shown.headers["Cache-Control"] == "no-store"
    token = re.search(
        r'id="new-token" type="text" value="(smsp_[^"]+)"', shown.get_data(as_text=True)
    ).group(1)
    assert "shown only once" in page_text(shown)
    assert "It has no expiry" in page_text(shown)
    with app.app_context():
        assert authenticate_token(db.session, old) is None
        assert authenticate_token(db.session, token).id == bob.id
        live = db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == bob.id, ApiToken.revoked_at.is_(None))
        ).all()
        assert len(live) == 1 and live[0].expires_at is None
    again = admin_client.get("/admin/users").get_data(as_text=True)
    assert token not in again and "new-token" not in again


def test_a_regenerated_token_expires_when_the_admin_chooses_a_lifetime(app, admin_client, make):
    bob = make.user("bob")
    shown = admin_client.post(
        f"/admin/users/{bob.id}/regenerate_token", data={"expires_in_days": "30"}
    )
    assert shown.status_code == 200
    assert "It stops working at" in page_text(shown)
    with app.app_context():
        token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == bob.id)).one()
        lifetime = token.expires_at - token.created_at
    assert abs(lifetime.total_seconds() - 30 * 86400) < 60


@pytest.mark.parametrize("typed", ["0", "-1", "thirty", "3651", "1.5"])
def test_a_bad_token_lifetime_is_refused_and_named(app, admin_client, make, typed):
    bob = make.user("bob")
    old = make.token(bob)
    response = admin_client.post(
        f"/admin/users/{bob.id}/regenerate_token", data={"expires_in_days": typed}
    )
    assert response.status_code == 422
    text = page_text(response)
    assert "No token was issued" in text and "expires in (days)" in text
    assert f'value="{typed}"' in response.get_data(as_text=True)
    assert "new-token" not in response.get_data(as_text=True)
    with app.app_context():
        assert authenticate_token(db.session, old) is not None, "nothing was revoked"


def test_delete_confirmation_says_the_messages_are_kept_then_deletes(app, admin_client, make):
    bob = make.user("bob")
    kept = [make.message(bob, content=f"Bob's notice {n}") for n in range(3)]
    page = admin_client.get(f"/admin/users/{bob.id}/delete")
    text = page_text(page)
    assert "Their 3 messages will be kept in the history" in text
    assert 'name="csrf_token"' in page.get_data(as_text=True)
    assert get_user(app, "bob") is not None  # GET changes nothing

    response = admin_client.post(f"/admin/users/{bob.id}/delete")
    assert response.location == "/admin/users"
    assert "Deleted bob. Their 3 messages stay in the history" in page_text(
        admin_client.get("/admin/users")
    )
    assert get_user(app, "bob") is None
    with app.app_context():
        assert [db.session.get(Message, m).user_id for m in kept] == [None, None, None]
    listing = page_text(admin_client.get("/admin/messages"))
    assert "(deleted user)" in listing


def test_unknown_user_is_not_found(admin_client):
    assert admin_client.get("/admin/users/9999/password").status_code == 404
    assert admin_client.post("/admin/users/9999/toggle").status_code == 404


# --- departments and roles --------------------------------------------------------------------

NEW_USER = {
    "username": "dora",
    "password": "a long password",
    "confirm_password": "a long password",
}


def test_create_a_user_in_a_department_with_a_role(app, admin_client, make):
    finance = make.department("Finance")
    form = admin_client.get("/admin/users/create").get_data(as_text=True)
    assert '<select id="department_id" name="department_id"' in form
    assert f'<option value="{finance.id}"' in form and '<option value="" selected>' in form
    assert '<option value="sender" selected>' in form and '<option value="viewer"' in form
    response = admin_client.post(
        "/admin/users/create",
        data={**NEW_USER, "department_id": str(finance.id), "role": "viewer"},
    )
    assert response.status_code == 302
    dora = get_user(app, "dora")
    assert (dora.department_id, dora.role, dora.is_admin) == (finance.id, "viewer", False)


def test_a_new_user_without_a_department_is_a_sender(app, admin_client):
    assert admin_client.post("/admin/users/create", data=NEW_USER).status_code == 302
    dora = get_user(app, "dora")
    assert (dora.department_id, dora.role) == (None, "sender")


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"department_id": "999"}, "department_id", "there is no department '999'"),
        ({"department_id": "abc"}, "department_id", "there is no department 'abc'"),
        ({"role": "admin"}, "role", "unknown role 'admin'"),
        ({"role": "Viewer"}, "role", "unknown role 'Viewer'"),
    ],
)
def test_a_forged_department_or_role_creates_nothing(app, admin_client, fields, field, problem):
    response = admin_client.post("/admin/users/create", data={**NEW_USER, **fields})
    assert response.status_code == 422
    assert problem in page_text(response)
    assert f'<ul class="field-errors" id="{field}-errors">' in response.get_data(as_text=True)
    assert get_user(app, "dora") is None


def test_a_users_page_moves_them_and_changes_their_role_audited(app, admin_client, make):
    finance, clinic = make.department("Finance"), make.department("Clinic")
    bob = make.user("bob", department=finance)
    sent = make.message(bob)
    assert f'href="/admin/users/{bob.id}"' in admin_client.get("/admin/users").get_data(
        as_text=True
    )
    page = admin_client.get(f"/admin/users/{bob.id}").get_data(as_text=True)
    assert f'<option value="{finance.id}" selected>' in page
    response = admin_client.post(
        f"/admin/users/{bob.id}", data={"department_id": str(clinic.id), "role": "approver"}
    )
    assert response.status_code == 302 and response.location == f"/admin/users/{bob.id}"
    moved = get_user(app, "bob")
    assert (moved.department_id, moved.role) == (clinic.id, "approver")
    with app.app_context():
        assert db.session.get(Message, sent).department_id == finance.id  # stays where sent
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.target == f"user:{bob.id} bob")
        ).all()
    assert actions[-2:] == ["user.department", "user.role"]
    users = page_text(admin_client.get("/admin/users"))
    assert "Clinic" in users and "Approver" in users
    admin_client.post(f"/admin/users/{bob.id}", data={"department_id": "", "role": "sender"})
    assert get_user(app, "bob").department_id is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"department_id": "999", "role": "sender"}, "department_id"), ({"role": "boss"}, "role")],
)
def test_a_forged_assignment_changes_nothing(app, admin_client, make, fields, field):
    finance = make.department("Finance")
    bob = make.user("bob", department=finance)
    response = admin_client.post(f"/admin/users/{bob.id}", data=fields)
    assert response.status_code == 422
    assert f'id="{field}-errors"' in response.get_data(as_text=True)
    kept = get_user(app, "bob")
    assert (kept.department_id, kept.role) == (finance.id, "sender")
    with app.app_context():
        assert not db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.action.in_(["user.department", "user.role"]))
        )


def test_a_missing_users_page_is_404(admin_client):
    assert admin_client.get("/admin/users/999").status_code == 404
