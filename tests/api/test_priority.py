"""`"priority": "urgent"` on every API send: its recipients go before every queued normal one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from smspanel.models import Message, Recipient, db
from smspanel.services.delivery.claims import claim_due_recipients
from tests.campaign_helpers import make_template

SENDS = {
    "/api/sms": {"recipient": "9123 4567", "content": "Typhoon signal 8"},
    "/api/sms/send-bulk": {"recipients": ["9123 4567", "9876 5432"], "content": "Typhoon"},
    "/api/sms/send-template": {"recipients": [{"phone": "9123 4567", "personalisation": {}}]},
}


@pytest.fixture
def bodies(app):
    with app.app_context():
        template_id = make_template(db.session, "School closed today")
    return {path: {**body, "template_id": template_id} if "template" in path else body
            for path, body in SENDS.items()}  # fmt: skip


@pytest.mark.parametrize("path", list(SENDS))
def test_an_urgent_send_is_stored_and_answered_as_urgent(client, headers, app, bodies, path):
    response = client.post(path, json={**bodies[path], "priority": "urgent"}, headers=headers)
    assert response.status_code == 202, response.get_json()
    data = response.get_json()["data"]
    assert data["priority"] == "urgent"
    detail = client.get(f"/api/sms/{data['id']}", headers=headers).get_json()["data"]
    assert detail["priority"] == "urgent"
    listed = client.get("/api/sms", headers=headers).get_json()["data"]["messages"]
    assert listed[0]["priority"] == "urgent"
    with app.app_context():
        assert db.session.get(Message, data["id"]).priority == "urgent"
        assert set(db.session.scalars(select(Recipient.priority))) == {0}


@pytest.mark.parametrize("path", list(SENDS))
def test_without_a_priority_a_send_is_normal(client, headers, bodies, path):
    data = client.post(path, json=bodies[path], headers=headers).get_json()["data"]
    assert data["priority"] == "normal"
    explicit = client.post(path, json={**bodies[path], "priority": "normal"}, headers=headers)
    assert explicit.get_json()["data"]["priority"] == "normal"


@pytest.mark.parametrize("path", list(SENDS))
def test_any_other_priority_is_refused_by_name_and_nothing_is_stored(
    client, headers, app, bodies, path
):
    for priority in ("high", "URGENT", "", None, 1, True, ["urgent"]):
        response = client.post(path, json={**bodies[path], "priority": priority}, headers=headers)
        assert response.status_code == 400, priority
        error = response.get_json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert [d["field"] for d in error["details"]] == ["priority"]
        assert "'normal' or 'urgent'" in error["details"][0]["message"]
    with app.app_context():
        assert db.session.scalar(select(Message.id)) is None


def test_an_urgent_single_sms_is_claimed_before_a_bulk_send_queued_first(
    client, headers, app, bodies
):
    bulk = {"recipients": [str(61_000_000 + n) for n in range(50)], "content": "Fees due"}
    client.post("/api/sms/send-bulk", json=bulk, headers=headers)
    urgent = client.post("/api/sms", json={**bodies["/api/sms"], "priority": "urgent"},
                         headers=headers).get_json()["data"]["id"]  # fmt: skip
    with app.app_context():
        [first] = claim_due_recipients(db.session, "w", 1, 60)
    assert first.message_id == urgent
