"""`scheduled_at` on POST /api/sms and POST /api/sms/send-bulk."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from smspanel.hktime import HKT
from smspanel.models import Message, Recipient, db, utcnow
from smspanel.services.delivery.claims import claim_due_recipients


@pytest.fixture
def headers(make):
    return make.auth(make.user("alice"))


SENDS = [
    ("/api/sms", {"recipient": "9123 4567", "content": "Later"}),
    ("/api/sms/send-bulk", {"recipients": ["9123 4567", "98765432"], "content": "Later"}),
]


def hkt_wall_clock(ahead: timedelta) -> datetime:
    return (utcnow() + ahead).astimezone(HKT).replace(microsecond=0, tzinfo=None)


def stored(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Message)),
            db.session.scalar(select(func.count()).select_from(Recipient)),
        )


@pytest.mark.parametrize(("path", "body"), SENDS)
def test_a_time_ahead_is_202_scheduled_with_the_time_in_hkt(app, client, headers, path, body):
    at = hkt_wall_clock(timedelta(hours=3))
    response = client.post(path, json={**body, "scheduled_at": at.isoformat()}, headers=headers)
    assert response.status_code == 202
    data = response.get_json()["data"]
    assert data["status"] == "scheduled"
    assert data["scheduled_at"] == at.isoformat() + "+08:00"
    assert "scheduled for" in response.get_json()["message"]
    detail = client.get(f"/api/sms/{data['id']}", headers=headers).get_json()["data"]
    assert (detail["status"], detail["scheduled_at"]) == ("scheduled", data["scheduled_at"])
    assert detail["pending_count"] == detail["recipient_count"]
    listed = client.get("/api/sms", headers=headers).get_json()["data"]["messages"][0]
    assert (listed["status"], listed["scheduled_at"]) == ("scheduled", data["scheduled_at"])
    with app.app_context():
        assert claim_due_recipients(db.session, "w", 10, 60) == []


def test_offsets_and_z_are_honoured_and_the_answer_is_in_hkt(client, headers):
    moment = (utcnow() + timedelta(days=2)).replace(microsecond=0, second=0)
    for text in (
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.astimezone(HKT).isoformat(),
        moment.astimezone(HKT).replace(tzinfo=None).isoformat(),
        moment.astimezone(timezone(timedelta(hours=-5))).isoformat(),
    ):
        response = client.post(
            "/api/sms", json={**SENDS[0][1], "scheduled_at": text}, headers=headers
        )
        assert response.status_code == 202, text
        answered = datetime.fromisoformat(response.get_json()["data"]["scheduled_at"])
        assert answered == moment and answered.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(("path", "body"), SENDS)
@pytest.mark.parametrize("scheduled_at", [None, ""])
def test_no_time_sends_now(client, headers, path, body, scheduled_at):
    response = client.post(path, json={**body, "scheduled_at": scheduled_at}, headers=headers)
    assert response.status_code == 202
    data = response.get_json()["data"]
    assert (data["status"], data["scheduled_at"]) == ("pending", None)


@pytest.mark.parametrize(("path", "body"), SENDS)
@pytest.mark.parametrize(
    ("ahead", "says"),
    [
        (timedelta(seconds=30), "at least 1 minute from now"),
        (timedelta(hours=-1), "at least 1 minute from now"),
        (timedelta(days=35, minutes=5), "more than 35 days ahead"),
    ],
)
def test_a_time_out_of_range_is_a_validation_error_naming_scheduled_at(
    app, client, headers, path, body, ahead, says
):
    at = hkt_wall_clock(ahead).isoformat()
    response = client.post(path, json={**body, "scheduled_at": at}, headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    [detail] = error["details"]
    assert detail["field"] == "scheduled_at" and says in detail["message"]
    assert stored(app) == (0, 0)


@pytest.mark.parametrize(("path", "body"), SENDS)
@pytest.mark.parametrize(
    "scheduled_at", ["next tuesday", "2026-02-30T09:00", "9999-12-31T23:59-10:00", 1767225600, []]
)
def test_an_unreadable_time_is_a_validation_error_naming_scheduled_at(
    app, client, headers, path, body, scheduled_at
):
    response = client.post(path, json={**body, "scheduled_at": scheduled_at}, headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "scheduled_at" in [d["field"] for d in error["details"]]
    assert stored(app) == (0, 0)


def test_a_bad_number_is_still_named_when_a_time_is_given(client, headers):
    at = hkt_wall_clock(timedelta(hours=1)).isoformat()
    body = {"recipients": ["1234-5678"], "content": "x", "scheduled_at": at}
    response = client.post("/api/sms/send-bulk", json=body, headers=headers)
    assert response.get_json()["error"]["code"] == "INVALID_RECIPIENTS"
