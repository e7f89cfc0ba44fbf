"""Scheduling from /compose, and cancelling from a message's page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from smspanel.hktime import to_hkt
from smspanel.models import AuditEvent, Message, Recipient, Template, db, utcnow
from smspanel.services.personalisation import check_rows
from smspanel.services.sending import accept_personalised_send
from tests.web.conftest import login, page_text

FORM = {"recipients": "1234 5678\n6345 6789", "content": "Flu jabs", "enquiry_number": "2833 1234"}


def hkt_field(moment) -> str:
    return to_hkt(moment).strftime("%Y-%m-%dT%H:%M")


def stored(app, message_id):
    with app.app_context():
        message = db.session.get(Message, message_id)
        db.session.expunge(message)
        return message


def test_compose_can_schedule_a_send_for_later(app, user_client):
    when = utcnow() + timedelta(hours=2)
    response = user_client.post("/compose", data={**FORM, "scheduled_at": hkt_field(when)})
    assert response.status_code == 302
    message_id = int(response.headers["Location"].rsplit("/", 1)[1])
    message = stored(app, message_id)
    assert message.status == "scheduled"
    assert abs(message.scheduled_at - when) < timedelta(minutes=1)
    page = page_text(user_client.get(f"/history/{message_id}", follow_redirects=True))
    assert "Scheduled for" in page and "Nothing is sent before then" in page
    assert "Cancel this scheduled message" in page


def test_a_schedule_in_the_past_is_refused_naming_the_field_and_keeping_the_form(app, user_client):
    past = hkt_field(utcnow() - timedelta(hours=1))
    response = user_client.post("/compose", data={**FORM, "scheduled_at": past})
    assert response.status_code == 422
    text = page_text(response)
    assert "Send at" in text and "at least 1 minute from now" in text
    body = response.get_data(as_text=True)
    assert f'value="{past}"' in body and "Flu jabs" in body
    with app.app_context():
        assert db.session.scalar(select(Message.id)) is None


def test_a_schedule_beyond_35_days_is_refused(user_client):
    response = user_client.post(
        "/compose", data={**FORM, "scheduled_at": hkt_field(utcnow() + timedelta(days=40))}
    )
    assert response.status_code == 422
    assert "more than 35 days ahead" in page_text(response)


def test_cancelling_a_scheduled_message_cancels_every_recipient_and_is_audited(
    app, make, user, user_client
):
    message_id = make.message(
        user, ["11112222", "33334444"], scheduled_at=utcnow() + timedelta(hours=1)
    )
    response = user_client.post(f"/history/{message_id}/cancel", follow_redirects=True)
    text = page_text(response)
    assert "cancelled: 2 recipients will not be sent" in text
    message = stored(app, message_id)
    assert (message.status, message.cancelled_count, message.pending_count) == ("cancelled", 2, 0)
    with app.app_context():
        statuses = db.session.scalars(
            select(Recipient.status).where(Recipient.message_id == message_id)
        ).all()
        audit = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sms.cancel")
        ).one()
    assert statuses == ["cancelled", "cancelled"]
    assert (audit.actor_name, audit.target) == ("alice", f"message:{message_id}")
    assert "Cancel this scheduled message" not in text


def test_cancelling_a_finished_message_changes_nothing_and_says_so(app, make, user, user_client):
    message_id = make.message(user)
    make.deliver()
    response = user_client.post(f"/history/{message_id}/cancel", follow_redirects=True)
    assert "nothing was left to cancel" in page_text(response)
    assert stored(app, message_id).status == "sent"


def test_nobody_cancels_another_users_message(app, make, client):
    owner = make.user("owner")
    message_id = make.message(owner, scheduled_at=utcnow() + timedelta(hours=1))
    make.user("mallory")
    login(client, "mallory")
    assert client.post(f"/history/{message_id}/cancel").status_code == 404
    assert stored(app, message_id).status == "scheduled"


def test_an_admin_can_cancel_anyones_message(app, make, admin, client):
    message_id = make.message(make.user("carol"), scheduled_at=utcnow() + timedelta(hours=1))
    login(client, admin.username)
    client.post(f"/history/{message_id}/cancel")
    assert stored(app, message_id).status == "cancelled"


def test_history_filters_scheduled_messages_and_the_dashboard_lists_them(make, user, user_client):
    later = make.message(user, content="Later notice", scheduled_at=utcnow() + timedelta(days=1))
    make.message(user, content="Now notice")
    history = page_text(user_client.get("/history?status=scheduled"))
    assert "Later notice" in history and "Now notice" not in history
    dashboard = user_client.get("/").get_data(as_text=True)
    assert "Scheduled to send" in dashboard and f"/history/{later}" in dashboard


def test_a_schedule_missed_while_the_panel_was_down_shows_as_started_late(
    app, make, user, user_client
):
    message_id = make.message(user, scheduled_at=utcnow() + timedelta(minutes=5))
    with app.app_context():  # as if every process was down for an hour past its time
        message = db.session.get(Message, message_id)
        message.scheduled_at = utcnow() - timedelta(hours=1)
        db.session.execute(
            Recipient.__table__.update().values(next_attempt_at=message.scheduled_at)
        )
        db.session.commit()
    make.deliver()
    text = page_text(user_client.get(f"/history/{message_id}"))
    assert "Started late" in text and "late" in text
    assert stored(app, message_id).status == "sent"


def test_a_personalised_message_shows_the_text_each_recipient_was_sent(
    app, make, user, user_client
):
    with app.app_context():
        template = Template(name="Clinic", content="Dear ((name)), see you at ((time)).")
        db.session.add(template)
        db.session.commit()
        check = check_rows(
            template.content,
            [
                (1, "1111 2222", {"Name": "Chan Tai Man", "time": "9:30"}),
                (2, "3333 4444", {"name": "Wong", "TIME": "10:00"}),
            ],
        )
        message_id = accept_personalised_send(
            db.session, user.id, template.id, template.content, check.rows
        ).id
    text = page_text(user_client.get(f"/history/{message_id}"))
    assert "Dear Chan Tai Man, see you at 9:30." in text
    assert "Dear Wong, see you at 10:00." in text
    assert "in total (personalised)" in text
