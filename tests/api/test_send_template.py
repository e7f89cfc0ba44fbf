"""POST /api/sms/send-template: a template personalised for each recipient."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

import smspanel.api.sms as api_sms
from smspanel.hktime import HKT
from smspanel.models import AuditEvent, Message, Recipient, Template, db, utcnow
from tests.campaign_helpers import make_template

TEMPLATE = "Dear ((name)), your appointment is on ((date)) at ((clinic))."


@pytest.fixture
def template_id(app):
    with app.app_context():
        return make_template(db.session, TEMPLATE, "appointment")


OMITTED = object()


def person(phone, **values):
    return {"phone": phone, "personalisation": values}


ADA = person("9123 4567", name="Ada", date="3 Dec", clinic="Kowloon")
CHAN = person("98765432", name="陳大文", date="4 Dec", clinic="Sha Tin")


def send(client, headers, template_id, recipients, **extra):
    body = {"template_id": template_id, "recipients": recipients, **extra}
    return client.post("/api/sms/send-template", json=body, headers=headers)


def stored(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Message)),
            db.session.scalar(select(func.count()).select_from(Recipient)),
        )


def test_each_recipient_gets_their_own_text_and_segments_are_the_total(
    client, headers, template_id
):
    response = send(client, headers, template_id, [ADA, CHAN])
    assert response.status_code == 202
    body = response.get_json()
    data = body["data"]
    assert (data["status"], data["recipient_count"], data["segments"]) == ("pending", 2, 2)
    assert (data["scheduled_at"], data["skipped_count"], data["cancelled_count"]) == (None, 0, 0)
    assert (data["skipped"], data["warnings"], data["repeated"]) == ([], [], [])
    assert datetime.fromisoformat(data["created_at"]).utcoffset() == timedelta(hours=8)
    assert body["message"] == "queued for 2 recipient(s)"

    detail = client.get(f"/api/sms/{data['id']}", headers=headers).get_json()["data"]
    assert (detail["content"], detail["segments"], detail["status"]) == (TEMPLATE, 2, "pending")
    assert detail["recipient_count"] == detail["pending_count"] == 2

    rows = client.get(f"/api/sms/{data['id']}/recipients", headers=headers).get_json()["data"]
    assert [(r["phone"], r["content"]) for r in rows["recipients"]] == [
        ("91234567", "Dear Ada, your appointment is on 3 Dec at Kowloon."),
        ("98765432", "Dear 陳大文, your appointment is on 4 Dec at Sha Tin."),
    ]


def test_segments_count_each_recipients_own_text(client, headers, app):
    with app.app_context():
        template_id = make_template(db.session, "((text))")
    recipients = [
        person("91234567", text="a" * 161),  # 2 GSM-7 parts
        person("91234568", text="中" * 71),  # 2 UCS-2 parts
        person("91234569", text="short"),
    ]
    data = send(client, headers, template_id, recipients).get_json()["data"]
    assert data["segments"] == 5
    assert client.get(f"/api/sms/{data['id']}", headers=headers).get_json()["data"]["segments"] == 5


def test_names_match_keys_loosely_and_extra_keys_are_ignored(client, headers, app):
    with app.app_context():
        template_id = make_template(db.session, "Hi ((First name)), ward ((ward-no))")
    recipients = [
        person("91234567", first_name="Ada", WARD_NO="7B", unused="x"),
        person("91234568", **{"First Name": "Bo", "Ward No": 3, "notes": ""}),
    ]
    data = send(client, headers, template_id, recipients).get_json()["data"]
    rows = client.get(f"/api/sms/{data['id']}/recipients", headers=headers).get_json()["data"]
    assert [r["content"] for r in rows["recipients"]] == ["Hi Ada, ward 7B", "Hi Bo, ward 3"]


def test_missing_and_blank_values_refuse_the_send_naming_each_row_and_placeholder(
    app, client, headers, template_id
):
    recipients = [
        ADA,
        person("91234568", name="Bo", date="  "),
        person("91234569", date="5 Dec", clinic="Tuen Mun", name=None),
    ]
    response = send(client, headers, template_id, recipients)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "MISSING_PERSONALISATION"
    assert [(d["field"], d["message"]) for d in error["details"]] == [
        ("recipients[1].personalisation.date", "row 2: no value for ((date))"),
        ("recipients[1].personalisation.clinic", "row 2: no value for ((clinic))"),
        ("recipients[2].personalisation.name", "row 3: no value for ((name))"),
    ]
    assert error["message"].startswith("2 of 3 recipients cannot be sent")
    assert stored(app) == (0, 0)


def test_missing_values_are_reported_even_beside_other_problems(client, headers, template_id):
    recipients = [person("1234-5678", name="A", date="d", clinic="c"), person("91234567")]
    error = send(client, headers, template_id, recipients).get_json()["error"]
    assert error["code"] == "MISSING_PERSONALISATION"
    fields = [d["field"] for d in error["details"]]
    assert fields[0] == "recipients[0].phone"
    assert fields[1:] == [f"recipients[1].personalisation.{n}" for n in ("name", "date", "clinic")]


def test_bad_numbers_are_invalid_recipients_one_detail_each(app, client, headers, template_id):
    recipients = [ADA, {**CHAN, "phone": "1234-5678"}, {**CHAN, "phone": "123"}]
    response = send(client, headers, template_id, recipients)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_RECIPIENTS"
    assert [(d["field"], d["value"]) for d in error["details"]] == [
        ("recipients[1].phone", "1234-5678"),
        ("recipients[2].phone", "123"),
    ]
    assert all("row" in d["message"] for d in error["details"])
    assert stored(app) == (0, 0)


def test_a_text_over_1000_characters_refuses_the_send_naming_the_row(
    app, client, headers, template_id
):
    response = send(client, headers, template_id, [ADA, {**CHAN, "personalisation": {
        "name": "x" * 990, "date": "d", "clinic": "c"}}])  # fmt: skip
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    [detail] = error["details"]
    assert detail["field"] == "recipients[1]"
    assert detail["message"].startswith("row 2: the personalised text is 1027 characters")
    assert stored(app) == (0, 0)


def test_a_repeated_number_is_sent_once_from_its_first_row_and_the_answer_says_so(
    client, headers, template_id
):
    again = {**ADA, "phone": "+852 91234567", "personalisation": {**ADA["personalisation"],
             "name": "Ada again"}}  # fmt: skip
    response = send(client, headers, template_id, [ADA, CHAN, again])
    body = response.get_json()
    assert response.status_code == 202 and body["data"]["recipient_count"] == 2
    assert body["data"]["repeated"] == [{"row": 3, "phone": "91234567", "first_row": 1}]
    assert "1 repeated number(s) sent once, from their first row" in body["message"]
    rows = client.get(f"/api/sms/{body['data']['id']}/recipients", headers=headers)
    assert rows.get_json()["data"]["recipients"][0]["content"].startswith("Dear Ada,")


def test_an_unknown_template_is_404(app, client, headers, template_id):
    response = send(client, headers, template_id + 1, [ADA])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"
    assert stored(app) == (0, 0)


def test_any_user_may_send_any_template(client, make, template_id):
    bob = make.auth(make.user("bob"))
    assert send(client, bob, template_id, [ADA]).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"template_id": OMITTED, "recipients": [ADA]}, "template_id"),
        ({"template_id": "one", "recipients": [ADA]}, "template_id"),
        ({"template_id": 0, "recipients": [ADA]}, "template_id"),
        ({"recipients": []}, "recipients"),
        ({"recipients": [{"personalisation": {}}]}, "recipients[0].phone"),
        ({"recipients": [{"phone": 91234567}]}, "recipients[0].phone"),
        ({"recipients": [{"phone": "91234567", "personalisation": []}]}, None),
        ({"recipients": [ADA], "scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"recipients": [ADA], "scheduled_at": 1767225600}, "scheduled_at"),
    ],
)
def test_malformed_bodies_are_validation_errors_naming_the_field(
    app, client, headers, template_id, body, field
):
    body = {"template_id": template_id, **body}
    body = {name: value for name, value in body.items() if value is not OMITTED}
    response = client.post("/api/sms/send-template", json=body, headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    if field:
        assert field in [d["field"] for d in error["details"]]
    else:
        assert error["details"][0]["field"].startswith("recipients[0].personalisation")
    assert stored(app) == (0, 0)


def test_a_scheduled_personalised_send_waits_and_says_when(app, client, headers, template_id):
    at = (utcnow() + timedelta(days=1)).astimezone(HKT).replace(microsecond=0, tzinfo=None)
    response = send(client, headers, template_id, [ADA], scheduled_at=at.isoformat())
    assert response.status_code == 202
    data = response.get_json()["data"]
    assert data["status"] == "scheduled"
    assert data["scheduled_at"] == at.isoformat() + "+08:00"
    detail = client.get(f"/api/sms/{data['id']}", headers=headers).get_json()["data"]
    assert (detail["status"], detail["scheduled_at"]) == ("scheduled", data["scheduled_at"])


def test_without_a_token_it_is_401(client, template_id):
    response = client.post("/api/sms/send-template", json={"template_id": template_id,
                           "recipients": [ADA]})  # fmt: skip
    assert response.status_code == 401


def test_the_send_is_audited_with_its_total_segments(app, client, headers, template_id):
    data = send(client, headers, template_id, [ADA, CHAN]).get_json()["data"]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sms.send"))
        assert (event.target, event.detail) == (
            f"message:{data['id']}",
            "2 recipient(s), 2 segment(s)",
        )
        assert (event.actor_name, event.channel) == ("alice", "api")


def test_a_hundred_thousand_rows_are_one_send(app, client, headers, template_id):
    recipients = [
        person(str(20_000_000 + n), name=f"P{n}", date="3 Dec", clinic="K") for n in range(100_000)
    ]
    response = send(client, headers, template_id, recipients)
    assert response.status_code == 202
    assert response.get_json()["data"]["recipient_count"] == 100_000
    assert stored(app) == (1, 100_000)


def test_a_template_deleted_while_its_send_is_checked_answers_404_and_stores_nothing(
    app, client, headers, template_id, monkeypatch
):
    with app.app_context():
        stale = db.session.get(Template, template_id)
        db.session.expunge(stale)
        db.session.execute(Template.__table__.delete())
        db.session.commit()
    looked_up = []

    def find_as_before_the_delete(session, wanted):
        looked_up.append(wanted)
        return stale if len(looked_up) == 1 else None  # the check saw it; then it was gone

    monkeypatch.setattr(api_sms, "find_template", find_as_before_the_delete)
    response = client.post(
        "/api/sms/send-template",
        json={"template_id": template_id, "recipients": [ADA]},
        headers=headers,
    )
    assert response.status_code == 404, response.get_json()
    assert response.get_json()["error"]["code"] == "NOT_FOUND"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
