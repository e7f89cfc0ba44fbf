"""Maker-checker over the API: every send door answers 202 `awaiting_approval` at the
threshold; POST /api/sms/<id>/approve and /reject decide, for approvers and admins only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smspanel.hktime import HKT
from smspanel.models import Department, Message, db, utcnow
from tests.campaign_helpers import make_template

NUMBERS = ["9123 4567", "9876 5432"]


@pytest.fixture
def unit(make) -> Department:
    return make.department(threshold=2)


@pytest.fixture
def maker(make, unit):
    return make.user("maker", department=unit)


@pytest.fixture
def maker_headers(make, maker):
    return make.auth(maker)


@pytest.fixture
def checker_headers(make, unit):
    return make.auth(make.user("checker", department=unit, role="approver"))


def in_an_hour() -> str:
    return (utcnow() + timedelta(hours=1)).astimezone(HKT).isoformat()


def waiting(client, headers, **extra) -> int:
    body = {"recipients": NUMBERS, "content": "School closed today", **extra}
    response = client.post("/api/sms/send-bulk", json=body, headers=headers)
    assert response.status_code == 202
    assert response.get_json()["data"]["status"] == "awaiting_approval"
    return response.get_json()["data"]["id"]


def test_every_send_door_at_the_threshold_answers_awaiting_approval(
    app, client, maker_headers, make, unit
):
    with app.app_context():
        template_id = make_template(db.session, "Dear ((name)), school is closed.")
    people = [{"phone": n, "personalisation": {"name": "Chan"}} for n in NUMBERS]
    for path, body in (
        ("/api/sms/send-bulk", {"recipients": NUMBERS, "content": "Closed"}),
        (
            "/api/sms/send-bulk",
            {"recipients": NUMBERS, "content": "Later", "scheduled_at": in_an_hour()},
        ),
        ("/api/sms/send-template", {"template_id": template_id, "recipients": people}),
    ):
        response = client.post(path, json=body, headers=maker_headers)
        assert response.status_code == 202, response.get_json()
        answer = response.get_json()
        assert answer["data"]["status"] == "awaiting_approval"
        assert answer["message"].startswith("awaiting approval")
    single = make.auth(make.user(department=make.department(threshold=1)))
    response = client.post(
        "/api/sms", json={"recipient": NUMBERS[0], "content": "Hi"}, headers=single
    )
    assert response.get_json()["data"]["status"] == "awaiting_approval"
    below = client.post(
        "/api/sms", json={"recipient": NUMBERS[0], "content": "Hi"}, headers=maker_headers
    )
    assert below.get_json()["data"]["status"] == "pending"


def test_approve_answers_the_message_as_get_does(client, maker_headers, checker_headers, make):
    message_id = waiting(client, maker_headers)
    response = client.post(f"/api/sms/{message_id}/approve", headers=checker_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "approved"
    data = body["data"]
    assert (data["status"], data["decided_by"], data["rejection_reason"]) == (
        "pending",
        "checker",
        None,
    )
    assert data["decided_at"].endswith("+08:00")
    as_get = client.get(f"/api/sms/{message_id}", headers=maker_headers).get_json()["data"]
    assert as_get == data
    make.deliver()
    done = client.get(f"/api/sms/{message_id}", headers=maker_headers).get_json()["data"]
    assert (done["status"], done["success_count"]) == ("sent", 2)


def test_an_approved_scheduled_send_stays_scheduled(client, maker_headers, checker_headers):
    message_id = waiting(client, maker_headers, scheduled_at=in_an_hour())
    data = client.post(f"/api/sms/{message_id}/approve", headers=checker_headers).get_json()["data"]
    assert data["status"] == "scheduled" and data["scheduled_at"].endswith("+08:00")


def test_reject_keeps_the_reason_and_cancels_every_recipient(
    client, maker_headers, checker_headers
):
    message_id = waiting(client, maker_headers)
    response = client.post(
        f"/api/sms/{message_id}/reject", json={"reason": "Wrong school"}, headers=checker_headers
    )
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert (data["status"], data["rejection_reason"], data["decided_by"]) == (
        "rejected",
        "Wrong school",
        "checker",
    )
    assert (data["cancelled_count"], data["pending_count"], data["sent_at"] is not None) == (
        2,
        0,
        True,
    )
    again = client.post(f"/api/sms/{message_id}/approve", headers=checker_headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "NOT_AWAITING_APPROVAL"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "give the reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": 42}, "reason"),
    ],
)
def test_a_rejection_without_a_reason_is_400_and_changes_nothing(
    app, client, maker_headers, checker_headers, body, problem
):
    message_id = waiting(client, maker_headers)
    response = client.post(f"/api/sms/{message_id}/reject", json=body, headers=checker_headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and problem in error["message"]
    assert error["details"][0]["field"] == "reason"
    with app.app_context():
        assert db.session.get(Message, message_id).status == "awaiting_approval"


@pytest.mark.parametrize("role", ["approver", "sender"])
def test_the_maker_is_forbidden_even_as_an_approver_or_admin(app, client, make, unit, role):
    own = make.auth(make.user(department=unit, role=role, is_admin=True))
    message_id = waiting(client, own)
    for path, body in (("approve", None), ("reject", {"reason": "mine"})):
        response = client.post(f"/api/sms/{message_id}/{path}", json=body, headers=own)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "FORBIDDEN"
    with app.app_context():
        assert db.session.get(Message, message_id).status == "awaiting_approval"


@pytest.mark.parametrize("role", ["sender", "viewer"])
def test_senders_and_viewers_are_forbidden(app, client, make, unit, maker_headers, role):
    message_id = waiting(client, maker_headers)
    headers = make.auth(make.user(department=unit, role=role))
    response = client.post(f"/api/sms/{message_id}/approve", headers=headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "FORBIDDEN")


def test_another_departments_send_is_404(client, make, maker_headers):
    message_id = waiting(client, maker_headers)
    stranger = make.auth(make.user(department=make.department(), role="approver"))
    for path, body in (("approve", None), ("reject", {"reason": "not ours"})):
        response = client.post(f"/api/sms/{message_id}/{path}", json=body, headers=stranger)
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "NOT_FOUND")
    missing = client.post("/api/sms/999999/approve", headers=stranger)
    assert missing.status_code == 404


def test_an_admin_decides_any_departments_send(client, make, maker_headers):
    message_id = waiting(client, maker_headers)
    admin = make.auth(make.user("boss", is_admin=True))
    response = client.post(f"/api/sms/{message_id}/reject", json={"reason": "No"}, headers=admin)
    assert response.get_json()["data"]["status"] == "rejected"


def test_approving_twice_is_409(client, maker_headers, checker_headers):
    message_id = waiting(client, maker_headers)
    assert client.post(f"/api/sms/{message_id}/approve", headers=checker_headers).status_code == 200
    second = client.post(f"/api/sms/{message_id}/approve", headers=checker_headers)
    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["code"] == "NOT_AWAITING_APPROVAL" and "pending" in error["message"]


def test_the_maker_can_cancel_a_waiting_send(client, maker_headers, checker_headers):
    message_id = waiting(client, maker_headers)
    response = client.post(f"/api/sms/{message_id}/cancel", headers=maker_headers)
    assert response.get_json()["data"] == {
        "id": message_id,
        "status": "cancelled",
        "cancelled_count": 2,
    }
    assert client.post(f"/api/sms/{message_id}/approve", headers=checker_headers).status_code == 409


def test_a_waiting_send_is_rejected_with_a_reason_not_cancelled_by_its_approver(
    app, client, maker_headers, checker_headers
):
    message_id = waiting(client, maker_headers)
    response = client.post(f"/api/sms/{message_id}/cancel", headers=checker_headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "FORBIDDEN"
    assert "reject it with a reason" in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.get(Message, message_id).status == "awaiting_approval"


def test_both_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    approve, reject = paths["/api/sms/{message_id}/approve"], paths["/api/sms/{message_id}/reject"]
    assert set(approve["post"]["responses"]) == {"200", "401", "403", "404", "409", "503"}
    assert "400" in reject["post"]["responses"] and "requestBody" in reject["post"]
