"""POST /api/auth/login and the bearer-token check."""

import pytest

from tests.conftest import PASSWORD


def test_login_returns_a_bearer_token_and_the_user(client, make):
    user = make.user("alice", is_admin=True)
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    data = body["data"]
    assert data["token_type"] == "Bearer" and data["access_token"]
    assert data["user"] == {"id": user.id, "username": "alice", "is_admin": True}
    listed = client.get("/api/sms", headers={"Authorization": f"Bearer {data['access_token']}"})
    assert listed.status_code == 200


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong password"), ("nobody", PASSWORD), ("bob", PASSWORD)]
)
def test_wrong_credentials_or_a_disabled_account_are_401(client, make, username, password):
    make.user("alice")
    make.user("bob", active=False)
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "INVALID_CREDENTIALS"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer not-a-token", "bearer " + "x" * 500],
)
def test_missing_or_malformed_tokens_are_401(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/sms", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] in {"UNAUTHORIZED", "INVALID_TOKEN"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_disabled_users_token_stops_working_at_once(app, client, make):
    from smspanel.models import User, db

    user = make.user()
    headers = make.auth(user)
    assert client.get("/api/sms", headers=headers).status_code == 200
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    assert client.get("/api/sms", headers=headers).status_code == 401


def test_login_body_is_validated(client):
    response = client.post("/api/auth/login", json={"username": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == "password"


def test_a_username_with_a_nul_character_is_just_a_failed_login(client):
    response = client.post("/api/auth/login", json={"username": "adm\x00in", "password": "x"})
    assert response.status_code == 401
