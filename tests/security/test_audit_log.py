"""The audit log records who did what; it is append-only and an admin can read it."""

import pytest
from sqlalchemy import select

from smspanel.models import AuditEvent, db
from smspanel.services.audit import AuditLogIsAppendOnly
from tests.conftest import PASSWORD
from tests.web.conftest import login, page_text


def events(app):
    with app.app_context():
        return [
            (e.actor_name, e.action, e.target, e.detail, e.channel)
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def test_logins_are_recorded_with_address_success_and_failure(app, client, make):
    make.user("alice")
    login(client, "alice", "not her password")
    client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    recorded = [e for e in events(app) if e[1].startswith("login")]
    assert recorded[0][1:] == ("login.failure", "username alice", "bad password", "web")
    assert recorded[1][0] == "alice" and recorded[1][1] == "login.success"
    assert recorded[1][4] == "api"
    with app.app_context():
        addresses = db.session.scalars(
            select(AuditEvent.ip_address).where(AuditEvent.action.like("login.%"))
        ).all()
        assert addresses == ["127.0.0.1", "127.0.0.1"]


def test_sends_are_recorded_without_their_content(app, client, make):
    user = make.user("bob")
    headers = make.auth(user)
    response = client.post(
        "/api/sms/send-bulk",
        json={"recipients": ["12345678", "87654321"], "content": "secret notice"},
        headers=headers,
    )
    message_id = response.get_json()["data"]["id"]
    [send] = [e for e in events(app) if e[1] == "sms.send"]
    assert send == ("bob", "sms.send", f"message:{message_id}", "2 recipient(s), 1 segment(s)",
                    "api")  # fmt: skip
    assert not any("secret notice" in " ".join(map(str, e)) for e in events(app))


def test_user_management_and_tokens_are_recorded(app, make):
    from tests.web.conftest import login as web_login

    admin = make.user("boss", is_admin=True)
    client = app.test_client()

    web_login(client, "boss")
    client.post("/admin/users/create", data={"username": "carol", "password": PASSWORD,
                                             "confirm_password": PASSWORD})  # fmt: skip
    carol_id = [e for e in events(app) if e[1] == "user.create"][-1][2].split()[0].split(":")[1]
    client.post(f"/admin/users/{carol_id}/toggle")
    client.post(f"/admin/users/{carol_id}/regenerate_token")
    client.post(f"/admin/users/{carol_id}/delete")
    actions = [(who, action) for who, action, *_ in events(app) if who == admin.username]
    assert [a for _, a in actions] == [
        "login.success", "user.create", "user.disable", "token.revoke", "token.issue",
        "user.delete",
    ]  # fmt: skip


def test_the_app_cannot_change_or_delete_audit_events(app, make):
    make.user("dave")
    with app.app_context():
        event = db.session.scalar(select(AuditEvent))
        event.detail = "rewritten"
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.delete(db.session.scalar(select(AuditEvent)))
            db.session.commit()


def test_admins_read_and_filter_the_audit_log(app, make):
    make.user("boss", is_admin=True)
    make.user("erin")

    client = app.test_client()
    login(client, "erin", "wrong password!")
    login(client, "boss")
    page = client.get("/admin/audit?action=login.failure")
    assert page.status_code == 200
    text = page_text(page)
    assert "login.failure" in text and "username erin" in text and "HKT" in text
    assert "1 event " in text  # the admin's own successful login is filtered out
    assert "username erin" in page_text(client.get("/admin/audit?search=erin"))
    assert client.get("/admin/audit?action=bogus").status_code == 200  # named, not a crash


def test_non_admins_cannot_read_the_audit_log(app, make):
    make.user("frank")

    client = app.test_client()
    login(client, "frank")
    assert client.get("/admin/audit").status_code == 403
