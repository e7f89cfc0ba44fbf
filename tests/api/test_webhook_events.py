"""A webhook event carries what the API answers: `message.final` data is the message as
`GET /api/sms/<id>` shows it, `recipient.final` recipients are as `GET .../recipients` lists
them, field for field, value for value."""

from __future__ import annotations

import json

from sqlalchemy import delete, select

from smspanel.models import Webhook, WebhookDelivery, db
from smspanel.services.approvals import reject
from smspanel.services.webhooks.packing import pack_outbox
from tests.registers import opt_out


def subscribe(app, user) -> None:
    with app.app_context():
        db.session.execute(delete(Webhook).where(Webhook.user_id == user.id))
        db.session.add(
            Webhook(
                user_id=user.id,
                url="https://hooks.example.com/sms",
                events="message.final,recipient.final",
                secret="whsec_test",
            )
        )
        db.session.commit()


def events(app) -> dict[str, list[dict]]:
    """The packed events' bodies by type."""
    with app.app_context():
        pack_outbox(db.session)
        found: dict[str, list[dict]] = {}
        for payload in db.session.scalars(select(WebhookDelivery.payload)):
            body = json.loads(payload)
            found.setdefault(body["type"], []).append(body)
        return found


def test_events_carry_the_message_and_recipients_as_the_api_shows_them(
    app, client, make, alice, headers
):
    subscribe(app, alice)
    opt_out(app, "91234569")
    sent = client.post(
        "/api/sms/send-bulk",
        json={"recipients": ["91234567", "91234568", "91234569"], "content": "通知 Notice"},
        headers=headers,
    ).get_json()["data"]
    make.deliver(failing=frozenset({"91234568"}))
    found = events(app)

    [message_event] = found["message.final"]
    shown = client.get(f"/api/sms/{sent['id']}", headers=headers).get_json()["data"]
    assert message_event["data"] == shown
    assert shown["status"] == "partial" and shown["sent_at"] is not None

    listed = client.get(f"/api/sms/{sent['id']}/recipients", headers=headers).get_json()["data"]
    reported = [r for body in found["recipient.final"] for r in body["data"]["recipients"]]
    assert sorted(reported, key=lambda r: r["id"]) == listed["recipients"]
    assert {r["status"] for r in reported} == {"sent", "failed", "skipped"}
    assert {body["data"]["message_id"] for body in found["recipient.final"]} == {sent["id"]}


def test_a_rejected_send_is_reported_with_its_decision(app, client, make):
    unit = make.department(threshold=2)
    maker = make.user(department=unit)
    checker = make.user(department=unit, role="approver")
    subscribe(app, maker)
    headers = make.auth(maker)
    message_id = make.message(maker, ["91234567", "91234568"])
    with app.app_context():
        reject(db.session, message_id, checker.id, "wrong list")
    [message_event] = events(app)["message.final"]
    shown = client.get(f"/api/sms/{message_id}", headers=headers).get_json()["data"]
    assert message_event["data"] == shown
    assert (shown["status"], shown["rejection_reason"]) == ("rejected", "wrong list")
