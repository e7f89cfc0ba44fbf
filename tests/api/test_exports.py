"""GET /api/sms/<id>/recipients.csv: the caller's own message's recipients as a file."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from smspanel.models import AuditEvent, Template, db

HEADER = ["phone", "status", "skip_reason", "attempts", "sent_at_hkt", "error_message"]


def read_csv(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_own_recipients_as_an_uncached_csv_attachment(client, make, alice, headers):
    message_id = make.message(alice, ["9123 4567", "6123 4567"], "Road closed")
    make.deliver(failing={"61234567"})
    response = client.get(f"/api/sms/{message_id}/recipients.csv", headers=headers)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="message-{message_id}-recipients.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == HEADER
    assert [row[:4] for row in rows[1:]] == [
        ["91234567", "sent", "", "1"],
        ["61234567", "failed", "", "1"],
    ]


def test_a_personalised_send_lists_what_each_person_was_sent(app, client, headers):
    with app.app_context():
        template = Template(name="Clinic", content="Dear ((name)), your visit is at ((time))")
        db.session.add(template)
        db.session.commit()
        template_id = template.id
    sent = client.post(
        "/api/sms/send-template",
        headers=headers,
        json={
            "template_id": template_id,
            "recipients": [
                {"phone": "9123 4567", "personalisation": {"name": "陳大文", "time": "10:00"}},
                {"phone": "6123 4567", "personalisation": {"name": "@Ann", "time": "11:30"}},
            ],
        },
    )
    assert sent.status_code == 202, sent.get_json()
    response = client.get(
        f"/api/sms/{sent.get_json()['data']['id']}/recipients.csv", headers=headers
    )
    rows = read_csv(response)
    assert rows[0] == [*HEADER, "content"]
    assert [(row[0], row[-1]) for row in rows[1:]] == [
        ("91234567", "Dear 陳大文, your visit is at 10:00"),
        ("61234567", "Dear @Ann, your visit is at 11:30"),
    ]


def test_another_users_message_is_not_found_even_for_an_admin(client, make, alice):
    message_id = make.message(alice)
    admin = make.user("boss", is_admin=True)
    response = client.get(f"/api/sms/{message_id}/recipients.csv", headers=make.auth(admin))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_a_missing_message_is_not_found(client, headers):
    response = client.get("/api/sms/424242/recipients.csv", headers=headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_no_token_no_file(client, make, alice):
    message_id = make.message(alice)
    response = client.get(f"/api/sms/{message_id}/recipients.csv")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_the_download_is_audited_as_an_api_call(app, client, make, alice, headers):
    message_id = make.message(alice, ["91234567"])
    client.get(f"/api/sms/{message_id}/recipients.csv", headers=headers).get_data()
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.recipients")
        ).one()
        assert (event.actor_name, event.channel, event.target) == (
            "alice",
            "api",
            f"message:{message_id}",
        )


def test_the_document_describes_a_csv_file(client):
    spec = client.get("/api/openapi.json").get_json()
    described = spec["paths"]["/api/sms/{message_id}/recipients.csv"]["get"]
    ok = described["responses"]["200"]
    assert list(ok["content"]) == ["text/csv"]
    assert ok["content"]["text/csv"]["example"].startswith("phone,status,skip_reason")
    assert "Content-Disposition" in ok["headers"]
    assert set(described["responses"]) == {"200", "401", "404", "503"}
