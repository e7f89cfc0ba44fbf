"""The template endpoints: the contract's shapes and codes, each refusal naming its field."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from smspanel.hktime import HKT
from smspanel.models import AuditEvent, Message, Template, db

REMINDER = "Dear ((name)), see you on ((date)) at ((First name))"


@pytest.fixture
def headers(make):
    return make.auth(make.user("alice"))


def create(client, headers, name="Clinic reminder", content=REMINDER):
    return client.post("/api/templates", json={"name": name, "content": content}, headers=headers)


def schedule_from(client, headers, template_id: int) -> tuple[int, str]:
    """A personalised send of the template, scheduled for tomorrow, through the API."""
    when = (datetime.now(HKT) + timedelta(days=1)).replace(second=0, microsecond=0)
    response = client.post(
        "/api/sms/send-template",
        json={
            "template_id": template_id,
            "recipients": [
                {
                    "phone": "9123 4567",
                    "personalisation": {"name": "Chan", "date": "2 Dec", "first_name": "Tai Man"},
                }
            ],
            "scheduled_at": when.isoformat(),
        },
        headers=headers,
    )
    assert response.status_code == 202, response.get_json()
    data = response.get_json()["data"]
    assert data["status"] == "scheduled"
    return data["id"], data["scheduled_at"]


def test_create_answers_201_with_the_placeholders_in_order(client, headers):
    response = create(client, headers, "  Clinic reminder  ")
    assert response.status_code == 201
    data = response.get_json()["data"]
    assert set(data) >= {"id", "name", "content", "placeholders", "updated_at"}
    assert data["name"] == "Clinic reminder"
    assert data["content"] == REMINDER
    assert data["placeholders"] == ["name", "date", "First name"]
    assert datetime.fromisoformat(data["updated_at"]).utcoffset() == timedelta(hours=8)


def test_the_list_shows_every_template_to_every_user(client, make, headers):
    create(client, headers, "beta", "B ((x))")
    create(client, headers, "Alpha", "A")
    other = make.auth(make.user("bob"))  # templates are shared
    response = client.get("/api/templates", headers=other)
    assert response.status_code == 200
    templates = response.get_json()["data"]["templates"]
    assert [(t["name"], t["placeholders"]) for t in templates] == [("Alpha", []), ("beta", ["x"])]
    assert all(set(t) >= {"id", "name", "content", "placeholders", "updated_at"} for t in templates)


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"name": "", "content": "Hi"}, "name", "name is required"),
        ({"name": "n" * 101, "content": "Hi"}, "name", "the maximum is 100"),
        ({"content": "Hi"}, "name", "Field required"),
        ({"name": "Notice", "content": "   "}, "content", "content is required"),
        ({"name": "Notice", "content": "x" * 1001}, "content", "the maximum is 1000"),
        ({"name": "Notice", "content": "Hi ((name"}, "content", "'((' at position 4"),
        ({"name": "Notice", "content": "Hi (())"}, "content", "'(())' at position 4 is empty"),
        ({"name": "Notice", "content": 5}, "content", "string"),
    ],
)
def test_bad_fields_are_400_naming_the_field(client, headers, body, field, says):
    response = client.post("/api/templates", json=body, headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    [detail] = error["details"]
    assert detail["field"] == field and says in detail["message"]


def test_a_name_taken_ignoring_case_is_409(client, headers, app):
    create(client, headers, "Clinic reminder")
    response = create(client, headers, "CLINIC Reminder", "Other")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "DUPLICATE_NAME"
    assert error["details"][0]["field"] == "name"
    assert "'Clinic reminder' already exists" in error["message"]
    with app.app_context():
        assert len(db.session.scalars(select(Template)).all()) == 1


def test_get_put_and_delete_one(client, headers, app):
    template_id = create(client, headers).get_json()["data"]["id"]
    got = client.get(f"/api/templates/{template_id}", headers=headers)
    assert got.status_code == 200
    assert got.get_json()["data"]["name"] == "Clinic reminder"

    put = client.put(
        f"/api/templates/{template_id}",
        json={"name": "Clinic reminder (new)", "content": "Hi ((name)), bring ((card))"},
        headers=headers,
    )
    assert put.status_code == 200
    data = put.get_json()["data"]
    assert (data["name"], data["placeholders"]) == ("Clinic reminder (new)", ["name", "card"])
    assert data["updated_at"] > got.get_json()["data"]["updated_at"]

    deleted = client.delete(f"/api/templates/{template_id}", headers=headers)
    assert deleted.status_code == 204 and deleted.data == b""
    assert "Content-Type" not in deleted.headers
    assert client.get(f"/api/templates/{template_id}", headers=headers).status_code == 404
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("template.%"))
            .order_by(AuditEvent.id)
        ).all()
        channels = db.session.scalars(
            select(AuditEvent.channel).where(AuditEvent.action.like("template.%"))
        ).all()
    assert actions == ["template.create", "template.update", "template.delete"]
    assert set(channels) == {"api"}


def test_put_validates_as_post(client, headers):
    template_id = create(client, headers).get_json()["data"]["id"]
    create(client, headers, "Other", "Text")
    bad = client.put(
        f"/api/templates/{template_id}", json={"name": "x", "content": ""}, headers=headers
    )
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"][0]["field"] == "content"
    clash = client.put(
        f"/api/templates/{template_id}", json={"name": "other", "content": "x"}, headers=headers
    )
    assert clash.status_code == 409 and clash.get_json()["error"]["code"] == "DUPLICATE_NAME"
    unchanged = client.get(f"/api/templates/{template_id}", headers=headers).get_json()["data"]
    assert (unchanged["name"], unchanged["content"]) == ("Clinic reminder", REMINDER)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("template_id", [424242, 2**31, 2**63 - 1])  # beyond a 32-bit id too
def test_a_missing_template_is_404(client, headers, method, template_id):
    body = {"name": "x", "content": "y"} if method == "PUT" else None
    response = client.open(
        f"/api/templates/{template_id}", method=method, json=body, headers=headers
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_a_template_in_a_scheduled_send_cannot_be_deleted(client, headers, app):
    template_id = create(client, headers).get_json()["data"]["id"]
    message_id, scheduled_at = schedule_from(client, headers, template_id)
    response = client.delete(f"/api/templates/{template_id}", headers=headers)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "TEMPLATE_IN_USE"
    assert f"#{message_id}" in error["message"]
    [detail] = error["details"]
    assert detail["value"] == {"message_id": message_id, "scheduled_at": scheduled_at}
    assert "HKT" in detail["message"]
    assert client.get(f"/api/templates/{template_id}", headers=headers).status_code == 200

    # Cancelled, it waits no more: the template may go, and the message keeps its record.
    assert client.post(f"/api/sms/{message_id}/cancel", headers=headers).status_code == 200
    assert client.delete(f"/api/templates/{template_id}", headers=headers).status_code == 204
    with app.app_context():
        message = db.session.get(Message, message_id)
        assert (message.status, message.template_id, message.content) == (
            "cancelled",
            None,
            REMINDER,
        )


def test_without_a_token_nothing_is_created(client, app):
    assert create(client, {}).status_code == 401
    assert client.get("/api/templates").status_code == 401
    with app.app_context():
        assert db.session.scalars(select(Template)).all() == []
