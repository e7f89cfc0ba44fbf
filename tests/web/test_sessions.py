"""Web logins live on the server: logout, password changes and disabling really end them."""

from flask.testing import FlaskClient

from smspanel.models import UserSession, db
from tests.conftest import PASSWORD
from tests.web.conftest import login


def second_browser(app) -> FlaskClient:
    return app.test_client()


def is_logged_in(client: FlaskClient) -> bool:
    return client.get("/compose").status_code == 200


def stolen_cookie(client: FlaskClient, app) -> FlaskClient:
    """Another browser holding a copy of this one's session cookie."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def test_logout_ends_the_session_on_the_server(app, user_client):
    copy = stolen_cookie(user_client, app)
    assert is_logged_in(copy)
    user_client.get("/logout")
    assert not is_logged_in(user_client)
    assert not is_logged_in(copy), "a copied cookie still worked after logout"


def test_each_login_gets_a_new_session(app, client, user):
    login(client, user.username)
    first = client.get_cookie("session").value
    client.get("/logout")
    login(client, user.username)
    assert client.get_cookie("session").value != first
    with app.app_context():
        assert db.session.query(UserSession).count() == 2


def test_an_admin_changing_a_password_ends_that_users_sessions(app, make, admin_client):
    carol_account = make.user("carol")
    carol = second_browser(app)
    login(carol, "carol")
    assert is_logged_in(carol)
    admin_client.post(
        f"/admin/users/{carol_account.id}/password",
        data={"password": "a new long password", "confirm_password": "a new long password"},
    )
    assert not is_logged_in(carol)


def test_changing_your_own_password_keeps_this_session_and_ends_the_others(app, admin, make):
    here, elsewhere = second_browser(app), second_browser(app)
    login(here, admin.username)
    login(elsewhere, admin.username)
    new = "another long password"
    response = here.post(
        f"/admin/users/{admin.id}/password", data={"password": new, "confirm_password": new}
    )
    assert response.status_code == 302
    assert is_logged_in(here)
    assert not is_logged_in(elsewhere)


def test_disabling_a_user_ends_their_sessions(app, make, admin_client):
    dave = make.user("dave")
    browser = second_browser(app)
    login(browser, "dave")
    assert is_logged_in(browser)
    admin_client.post(f"/admin/users/{dave.id}/toggle")
    assert not is_logged_in(browser)
    admin_client.post(f"/admin/users/{dave.id}/toggle")  # enabled again: must log in anew
    assert not is_logged_in(browser)
    login(browser, "dave", PASSWORD)
    assert is_logged_in(browser)


def test_session_cookie_flags(app, client, user):
    response = login(client, user.username)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development over plain http
    app.config["SESSION_COOKIE_SECURE"] = True  # what production sets
    other = app.test_client()
    assert "Secure" in login(other, user.username).headers["Set-Cookie"]
