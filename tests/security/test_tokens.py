"""API tokens have lifetimes: a password change revokes them, API logins expire, a caller can
log out and list its own tokens (never their secrets)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from smspanel.config import ConfigError, load_settings
from smspanel.models import ApiToken, AuditEvent, db, utcnow
from smspanel.services import tokens
from tests.conftest import PASSWORD
from tests.web.conftest import login, page_text

NEW_PASSWORD = "a brand new passphrase"


def api_login(client, username: str) -> dict:
    response = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(client, token: str) -> bool:
    response = client.get("/api/sms", headers=bearer(token))
    if response.status_code == 200:
        return False
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "INVALID_TOKEN"
    return True


# --- a password change revokes every token ---------------------------------------------------


def test_an_admins_password_reset_revokes_the_users_tokens_and_says_so(app, client, make):
    make.user("boss", is_admin=True)
    bob = make.user("bob")
    from_login, from_admin = api_login(client, "bob")["access_token"], make.token(bob)
    admin = app.test_client()
    assert login(admin, "boss").status_code == 302
    response = admin.post(
        f"/admin/users/{bob.id}/password",
        data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert "Password changed for bob. Their 2 API tokens were revoked." in page_text(response)
    assert refused(client, from_login) and refused(client, from_admin)
    with app.app_context():
        records = db.session.execute(
            select(AuditEvent.action, AuditEvent.detail).where(
                AuditEvent.target == f"user:{bob.id} bob",
                AuditEvent.action.in_(["token.revoke", "user.password"]),
            )
        ).all()
    assert ("token.revoke", "2 token(s), password changed") in records
    assert ("user.password", "2 API token(s) revoked") in records


def test_changing_ones_own_password_revokes_ones_own_tokens(app, client, make):
    boss = make.user("boss", is_admin=True)
    token = make.token(boss)
    assert login(client, "boss").status_code == 302
    response = client.post(
        f"/admin/users/{boss.id}/password",
        data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert "Their 1 API token was revoked." in page_text(response)
    assert refused(app.test_client(), token)
    assert client.get("/admin/users").status_code == 200, "the web login itself goes on"


def test_flask_reset_password_revokes_the_users_tokens(app, runner, client, make):
    bob = make.user("bob")
    token = make.token(bob)
    result = runner.invoke(args=["reset-password", "bob", "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "1 API token(s) revoked" in result.output
    assert refused(client, token)


def test_tokens_issued_after_the_change_work(client, make):
    bob = make.user("bob")
    make.token(bob)
    with client.application.app_context():
        from smspanel.services.accounts import set_password

        set_password(db.session, db.session.get(type(bob), bob.id), NEW_PASSWORD)
    response = client.post("/api/auth/login", json={"username": "bob", "password": NEW_PASSWORD})
    assert not refused(client, response.get_json()["data"]["access_token"])


# --- API logins expire ---------------------------------------------------------------------


def test_an_api_login_token_expires_after_the_configured_hours(app, client, make, monkeypatch):
    make.user("bob")
    before = utcnow()
    data = api_login(client, "bob")
    expires_at = datetime.fromisoformat(data["expires_at"])
    assert data["expires_at"].endswith("+08:00"), "API times carry Hong Kong's offset"
    assert abs((expires_at - before) - timedelta(hours=24)) < timedelta(minutes=1)
    assert not refused(client, data["access_token"])
    later = expires_at + timedelta(seconds=1)
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    assert refused(client, data["access_token"])


def test_api_login_token_hours_is_a_setting(app, client, make):
    app.config["API_LOGIN_TOKEN_HOURS"] = 2
    make.user("bob")
    before = utcnow()
    expires_at = datetime.fromisoformat(api_login(client, "bob")["expires_at"])
    assert abs((expires_at - before) - timedelta(hours=2)) < timedelta(minutes=1)


@pytest.mark.parametrize(("raw", "hours"), [(None, 24), ("1", 1), ("720", 720)])
def test_api_login_token_hours_defaults_to_a_day(monkeypatch, tmp_path, raw, hours):
    monkeypatch.delenv("FLASK_ENV", raising=False)
    if raw is None:
        monkeypatch.delenv("API_LOGIN_TOKEN_HOURS", raising=False)
    else:
        monkeypatch.setenv("API_LOGIN_TOKEN_HOURS", raw)
    assert load_settings(tmp_path)["API_LOGIN_TOKEN_HOURS"] == hours


@pytest.mark.parametrize("raw", ["0", "-3", "a day"])
def test_api_login_token_hours_below_one_is_refused(monkeypatch, tmp_path, raw):
    monkeypatch.delenv("FLASK_ENV", raising=False)
    monkeypatch.setenv("API_LOGIN_TOKEN_HOURS", raw)
    with pytest.raises(ConfigError, match="API_LOGIN_TOKEN_HOURS"):
        load_settings(tmp_path)


# --- logout --------------------------------------------------------------------------------


def test_api_logout_revokes_the_token_it_is_called_with(app, client, make):
    bob = make.user("bob")
    data = api_login(client, "bob")
    other = make.token(bob)
    response = client.post("/api/auth/logout", headers=bearer(data["access_token"]))
    assert response.status_code == 200
    assert response.get_json()["data"] == {"revoked": True}
    assert refused(client, data["access_token"])
    again = client.post("/api/auth/logout", headers=bearer(data["access_token"]))
    assert again.status_code == 401 and again.get_json()["error"]["code"] == "INVALID_TOKEN"
    assert not refused(client, other), "the caller's other tokens keep working"
    with app.app_context():
        assert (
            db.session.scalar(
                select(AuditEvent.detail).where(
                    AuditEvent.action == "token.revoke", AuditEvent.target == f"user:{bob.id} bob"
                )
            )
            == "logout"
        )


def test_api_logout_needs_a_token(client):
    response = client.post("/api/auth/logout")
    assert response.status_code == 401


# --- listing one's tokens ------------------------------------------------------------------


def test_the_token_list_shows_the_callers_live_tokens_and_never_a_secret(app, client, make):
    bob = make.user("bob")
    carol = make.user("carol")
    old = make.token(bob)
    make.token(carol)
    revoked = make.token(bob)
    client.post("/api/auth/logout", headers=bearer(revoked))
    data = api_login(client, "bob")
    response = client.get("/api/auth/tokens", headers=bearer(data["access_token"]))
    assert response.status_code == 200
    listed = response.get_json()["data"]["tokens"]
    body = response.get_data(as_text=True)
    with app.app_context():
        rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == bob.id)).all()
        live = {row.id: row for row in rows if row.revoked_at is None}
        hashes = [row.token_hash for row in rows]
    assert {entry["id"] for entry in listed} == set(live), "bob's live tokens, nobody else's"
    assert len(listed) == 2
    assert [entry["current"] for entry in listed] == [True, False], "newest first"
    current = listed[0]
    assert set(current) == {"id", "name", "created_at", "last_used_at", "expires_at", "current"}
    assert current["name"] == "api login"
    assert current["expires_at"] == data["expires_at"]
    assert current["created_at"].endswith("+08:00") and current["last_used_at"] is not None
    assert listed[1]["expires_at"] is None and listed[1]["last_used_at"] is None
    for secret in [old, revoked, data["access_token"], *hashes]:
        assert secret not in body


def test_an_expired_token_is_not_listed(app, client, make):
    bob = make.user("bob")
    token = make.token(bob)
    with app.app_context():
        tokens.issue_token(
            db.session, db.session.get(type(bob), bob.id), "old", utcnow() - timedelta(hours=1)
        )
    listed = client.get("/api/auth/tokens", headers=bearer(token)).get_json()["data"]["tokens"]
    assert [entry["name"] for entry in listed] == [""]


def test_the_openapi_document_describes_logout_and_the_token_list(client):
    document = client.get("/api/openapi.json").get_json()
    assert "post" in document["paths"]["/api/auth/logout"]
    assert "get" in document["paths"]["/api/auth/tokens"]
    login_schema = document["components"]["schemas"]["LoginData"]
    assert "expires_at" in login_schema["properties"]
