"""Two-factor sign-in on the web: enrol at /account/2fa, the code at /login/2fa after the
password, recovery codes, throttling, disabling, an admin's reset and REQUIRE_2FA_FOR_ADMINS.

Codes come from pyotp with the secret the page shows. A code is accepted once, so each step
below uses a later one: the enrolment the previous step's, the login now's, then the next.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from smspanel.models import AuditEvent, User, db
from tests.conftest import PASSWORD
from tests.totp_codes import STEP, previous_steps_code
from tests.web.conftest import login, page_text


def enrol(client) -> tuple[pyotp.TOTP, list[str]]:
    """Set up two-factor sign-in as the logged-in user; the app and the recovery codes."""
    page = client.get("/account/2fa").get_data(as_text=True)
    totp = pyotp.TOTP(re.search(r"data-secret>([A-Z2-7]{32})<", page).group(1))
    confirmed = client.post("/account/2fa", data={"code": previous_steps_code(totp)})
    assert confirmed.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9-]{19})</code></li>", confirmed.get_data(as_text=True))
    assert len(codes) == 10
    return totp, codes


def enrolled_user(client, username: str) -> tuple[pyotp.TOTP, list[str]]:
    assert login(client, username).status_code == 302
    enrolment = enrol(client)
    client.post("/logout")
    return enrolment


def code_step(client, code: str, next_page: str = ""):
    return client.post(f"/login/2fa{next_page}", data={"code": code})


def actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_enrolment_page_shows_a_qr_code_and_the_secret_then_asks_for_a_code(user_client):
    response = user_client.get("/account/2fa")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<svg width="' in html and 'class="qr-code"' in html  # inline, made on the server
    assert "<img" not in html and "https://" not in html
    secret = re.search(r"data-secret>([A-Z2-7]{32})<", html).group(1)
    assert secret in page_text(response)  # readable, to type in by hand
    assert f"otpauth://totp/smspanel:alice?secret={secret}" in html
    assert 'name="code"' in html


def test_a_wrong_code_does_not_turn_it_on(app, user_client, user):
    user_client.get("/account/2fa")
    refused = user_client.post("/account/2fa", data={"code": "12345"})
    assert refused.status_code == 422
    assert "the code is not right" in page_text(refused)
    with app.app_context():
        assert db.session.get(User, user.id).totp_enabled_at is None


def test_a_right_code_turns_it_on_and_shows_the_recovery_codes_once(app, user_client):
    _, codes = enrol(user_client)
    again = user_client.get("/account/2fa")
    text = page_text(again)
    assert "Two-factor sign-in is on since" in text and "10 recovery codes left" in text
    assert not any(code in text for code in codes)  # shown that one time only
    assert 'name="password"' in again.get_data(as_text=True)


def test_after_the_password_the_code_is_asked_and_nobody_is_logged_in_until_then(client, user):
    totp, _ = enrolled_user(client, "alice")
    response = login(client, "alice")
    assert response.status_code == 302 and response.location == "/login/2fa"
    assert client.get("/").status_code == 302  # not logged in yet
    assert 'name="code"' in client.get("/login/2fa").get_data(as_text=True)
    wrong = code_step(client, "000000" if totp.now() != "000000" else "111111")
    assert wrong.status_code == 401 and "that code is not right" in page_text(wrong)
    assert client.get("/").status_code == 302
    right = code_step(client, totp.now())
    assert right.status_code == 302 and right.location == "/"
    assert client.get("/").status_code == 200


def test_the_steps_of_a_login_are_audited(app, client, user):
    totp, _ = enrolled_user(client, "alice")
    login(client, "alice")
    code_step(client, "not a code")
    code_step(client, totp.now())
    assert actions(app)[-3:] == ["login.password", "login.failure", "login.success"]


def test_next_survives_the_code_step_and_stays_on_this_site(client, user):
    totp, _ = enrolled_user(client, "alice")
    client.post("/login?next=/history", data={"username": "alice", "password": PASSWORD})
    assert code_step(client, totp.now()).location == "/history"
    client.post("/logout")
    client.post("/login?next=//evil.example/", data={"username": "alice", "password": PASSWORD})
    assert code_step(client, totp.at(time.time() + STEP)).location == "/"


def test_a_code_cannot_be_used_for_a_second_login(client, user):
    totp, _ = enrolled_user(client, "alice")
    code = totp.now()
    login(client, "alice")
    assert code_step(client, code).status_code == 302
    client.post("/logout")
    login(client, "alice")
    assert code_step(client, code).status_code == 401


def test_a_recovery_code_logs_in_once(client, user):
    _, codes = enrolled_user(client, "alice")
    login(client, "alice")
    response = code_step(client, codes[0].upper())
    assert response.status_code == 302
    assert "You used a recovery code; 9 are left." in page_text(client.get("/"))
    client.post("/logout")
    login(client, "alice")
    assert code_step(client, codes[0]).status_code == 401


def test_the_code_step_needs_a_password_first_and_expires(client, user):
    assert client.get("/login/2fa").location == "/login"
    assert code_step(client, "123456").location == "/login"
    totp, _ = enrolled_user(client, "alice")
    login(client, "alice")
    with client.session_transaction() as session:
        marker = session["two_factor_pending"]
        assert set(marker) == {"user", "at", "next"}  # never the password
        session["two_factor_pending"] = {**marker, "at": marker["at"] - 301}
    response = code_step(client, totp.now())
    assert response.status_code == 302 and response.location == "/login"
    assert client.get("/").status_code == 302


def test_wrong_codes_are_throttled_like_passwords(client, user):
    totp, _ = enrolled_user(client, "alice")
    login(client, "alice")
    for _ in range(10):
        assert code_step(client, "999999x").status_code == 401
    refused = code_step(client, totp.now())  # even the right code, for now
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_disabling_takes_the_password_and_a_code(app, client, user):
    totp, _ = enrolled_user(client, "alice")
    login(client, "alice")
    code_step(client, totp.now())
    later = totp.at(time.time() + STEP)
    wrong = client.post("/account/2fa", data={"password": "not my password", "code": later})
    assert wrong.status_code == 422 and "the password is not right" in page_text(wrong)
    missing = client.post("/account/2fa", data={"password": PASSWORD})
    assert missing.status_code == 422
    off = client.post("/account/2fa", data={"password": PASSWORD, "code": later})
    assert off.status_code == 302 and off.location == "/account/2fa"
    client.post("/logout")
    assert login(client, "alice").location == "/"  # the password alone again
    assert "two_factor.disable" in actions(app)


def test_the_api_login_stays_password_only(client, user):
    enrolled_user(client, "alice")
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


def test_an_admin_resets_a_users_two_factor(app, client, user, admin):
    enrolled_user(client, "alice")
    login(client, "boss")
    users_page = client.get("/admin/users").get_data(as_text=True)
    assert f'action="/admin/users/{user.id}/reset-2fa"' in users_page
    response = client.post(f"/admin/users/{user.id}/reset-2fa")
    assert response.status_code == 302
    assert "Two-factor sign-in is off for alice" in page_text(client.get("/admin/users"))
    with app.app_context():
        assert db.session.get(User, user.id).totp_secret is None
    assert "two_factor.reset" in actions(app)
    client.post("/logout")
    assert login(client, "alice").location == "/"


def test_an_admin_cannot_reset_their_own_or_a_missing_users(client, admin):
    login(client, "boss")
    enrol(client)
    client.post(f"/admin/users/{admin.id}/reset-2fa")
    assert "Not changed" in page_text(client.get("/admin/users"))
    assert client.post("/admin/users/999999/reset-2fa").status_code == 404


def test_a_user_cannot_reset_anyones_two_factor(client, user, admin):
    login(client, "alice")
    assert client.post(f"/admin/users/{admin.id}/reset-2fa").status_code == 403


@pytest.mark.parametrize("path", ["/", "/history", "/compose", "/admin/users"])
def test_required_for_admins_every_page_leads_to_the_enrolment(app, admin_client, path):
    app.config["REQUIRE_2FA_FOR_ADMINS"] = True
    response = admin_client.get(path)
    assert response.status_code == 302 and response.location == "/account/2fa"


def test_required_for_admins_they_can_still_enrol_log_out_and_switch_language(
    app, client, make, admin
):
    app.config["REQUIRE_2FA_FOR_ADMINS"] = True
    token = make.token(admin)
    login(client, "boss")
    page = client.get("/account/2fa")
    assert page.status_code == 200 and "Administrators must use" in page_text(page)
    assert client.get("/lang/en?next=/account/2fa").status_code == 302
    assert client.get("/static/css/app.css").status_code == 200
    api = client.get("/api/sms", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200  # API tokens are unaffected
    assert client.post("/compose", data={"content": "x"}).location == "/account/2fa"
    enrol(client)
    assert client.get("/").status_code == 200


def test_required_for_admins_leaves_other_users_alone(app, user_client):
    app.config["REQUIRE_2FA_FOR_ADMINS"] = True
    assert user_client.get("/").status_code == 200


def test_logging_out_works_before_enrolling_when_required(app, admin_client):
    app.config["REQUIRE_2FA_FOR_ADMINS"] = True
    assert admin_client.post("/logout").location == "/login"
    assert admin_client.get("/").location.startswith("/login")
