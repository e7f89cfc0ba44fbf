"""POST /api/sms/<id>/cancel: whole while scheduled, the rest while sending, 409 when final."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from smspanel.hktime import HKT
from smspanel.models import AuditEvent, db, utcnow
from smspanel.services.cancelling import cancel_held_recipients
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import GatewayReply
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from tests.campaign_helpers import assert_counts_add_up

NUMBERS = [f"9200{n:04d}" for n in range(4)]


def in_an_hour() -> str:
    return (utcnow() + timedelta(hours=1)).astimezone(HKT).strftime("%Y-%m-%dT%H:%M")


def scheduled_send(client, headers, numbers=NUMBERS) -> int:
    body = {"recipients": numbers, "content": "Later", "scheduled_at": in_an_hour()}
    response = client.post("/api/sms/send-bulk", json=body, headers=headers)
    assert response.status_code == 202
    return response.get_json()["data"]["id"]


def cancel(client, headers, message_id):
    return client.post(f"/api/sms/{message_id}/cancel", headers=headers)


def test_a_scheduled_message_is_cancelled_whole(client, headers):
    message_id = scheduled_send(client, headers)
    response = cancel(client, headers, message_id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["data"] == {"id": message_id, "status": "cancelled", "cancelled_count": 4}
    assert body["message"] == "4 recipient(s) cancelled"

    detail = client.get(f"/api/sms/{message_id}", headers=headers).get_json()["data"]
    assert (detail["status"], detail["cancelled_count"], detail["pending_count"]) == (
        "cancelled",
        4,
        0,
    )
    assert detail["recipient_count"] == (
        detail["success_count"]
        + detail["failed_count"]
        + detail["pending_count"]
        + detail["skipped_count"]
        + detail["cancelled_count"]
    )
    assert detail["sent_at"] is not None and detail["scheduled_at"].endswith("+08:00")
    rows = client.get(f"/api/sms/{message_id}/recipients", headers=headers).get_json()["data"]
    assert {r["status"] for r in rows["recipients"]} == {"cancelled"}
    listed = client.get("/api/sms", headers=headers).get_json()["data"]["messages"][0]
    assert (listed["status"], listed["cancelled_count"]) == ("cancelled", 4)


def test_a_message_being_sent_stops_and_counts_what_went_out_first(app, client, headers, make):
    message_id = client.post(
        "/api/sms/send-bulk", json={"recipients": NUMBERS, "content": "Now"}, headers=headers
    ).get_json()["data"]["id"]
    with app.app_context():
        sent, held = claim_due_recipients(db.session, "dispatcher", 2, 60)
        record_outcomes(
            db.session, "dispatcher", [DeliveryOutcome.sent(sent, GatewayReply(200, ""))]
        )

    def dispatcher_lets_go():  # as a dispatcher does within a tenth of a second
        time.sleep(0.1)
        with app.app_context():
            cancel_held_recipients(db.session, "dispatcher", [(held.id, message_id)])
            db.session.remove()

    thread = threading.Thread(target=dispatcher_lets_go)
    thread.start()
    response = cancel(client, headers, message_id)
    thread.join()
    assert response.status_code == 200
    assert response.get_json()["data"] == {
        "id": message_id,
        "status": "cancelled",
        "cancelled_count": 3,
    }
    detail = client.get(f"/api/sms/{message_id}", headers=headers).get_json()["data"]
    assert (detail["success_count"], detail["cancelled_count"]) == (1, 3)
    rows = client.get(f"/api/sms/{message_id}/recipients", headers=headers).get_json()["data"]
    assert [r["status"] for r in rows["recipients"]] == ["sent", *["cancelled"] * 3]
    with app.app_context():
        assert_counts_add_up(db.session, message_id)


def test_a_sent_message_is_not_cancellable(client, headers, make, alice):
    message_id = make.message(alice, ["91234567"])
    make.deliver()
    response = cancel(client, headers, message_id)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "NOT_CANCELLABLE" and "is sent" in error["message"]


def test_a_cancelled_message_is_not_cancellable_again(client, headers):
    message_id = scheduled_send(client, headers)
    assert cancel(client, headers, message_id).status_code == 200
    response = cancel(client, headers, message_id)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "NOT_CANCELLABLE"


def test_another_users_message_is_404_and_stays_as_it_was(client, headers, make):
    bob = make.user("bob")
    bobs = scheduled_send(client, make.auth(bob))
    response = cancel(client, headers, bobs)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"
    assert (
        client.get(f"/api/sms/{bobs}", headers=make.auth(bob)).get_json()["data"]["status"]
        == "scheduled"
    )


def test_an_admins_token_cannot_cancel_someone_elses_message(client, headers, make):
    message_id = scheduled_send(client, headers)
    admin = make.auth(make.user("root", is_admin=True))
    assert cancel(client, admin, message_id).status_code == 404


@pytest.mark.parametrize("message_id", [999_999, 2**63])
def test_an_unknown_message_is_404(client, headers, message_id):
    response = cancel(client, headers, message_id)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_without_a_token_it_is_401(client, headers):
    message_id = scheduled_send(client, headers)
    assert client.post(f"/api/sms/{message_id}/cancel").status_code == 401


def test_only_post_cancels(client, headers):
    message_id = scheduled_send(client, headers)
    response = client.get(f"/api/sms/{message_id}/cancel", headers=headers)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_cancel_is_audited_with_who_and_how(app, client, headers):
    message_id = scheduled_send(client, headers)
    cancel(client, headers, message_id)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sms.cancel"))
        assert (event.actor_name, event.channel, event.target) == (
            "alice",
            "api",
            f"message:{message_id}",
        )
        assert event.detail == "4 of 4 recipient(s) not yet sent"


def test_a_body_is_ignored(client, headers):
    message_id = scheduled_send(client, headers)
    response = client.post(f"/api/sms/{message_id}/cancel", json={"x": 1}, headers=headers)
    assert response.status_code == 200
