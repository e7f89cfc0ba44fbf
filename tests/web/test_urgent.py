"""The `urgent` checkbox on /compose and the file check page; the detail page says so."""

from __future__ import annotations

import re

from sqlalchemy import select

from smspanel.models import Message, Recipient, db
from tests.campaign_helpers import make_template
from tests.web.conftest import page_text
from tests.web.test_uploads import uploaded

COMPOSE = {"recipients": "9123 4567\n6345 6789", "content": "Typhoon", "enquiry_number": "28331234"}


def stored_priority(app) -> tuple[str, set[int]]:
    with app.app_context():
        message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
        lanes = set(db.session.scalars(select(Recipient.priority).filter_by(message_id=message.id)))
        return message.priority, lanes


def test_compose_offers_an_urgent_checkbox_that_says_what_it_does(user_client):
    html = user_client.get("/compose").get_data(as_text=True)
    box = re.search(r'<input id="urgent" name="urgent" type="checkbox"[^>]*>', html)
    assert box and "checked" not in box.group(0)
    assert '<label for="urgent">Urgent: send before every queued normal message</label>' in html


def test_an_urgent_compose_send_is_stored_urgent_and_the_detail_page_says_so(user_client, app):
    response = user_client.post("/compose", data={**COMPOSE, "urgent": "y"})
    assert response.status_code == 302, page_text(response)
    assert stored_priority(app) == ("urgent", {0})
    detail = user_client.get(response.location)
    assert "Priority urgent sent before every queued normal message" in page_text(detail)
    assert 'data-priority="urgent"' in detail.get_data(as_text=True)


def test_without_the_box_a_compose_send_is_normal(user_client, app):
    response = user_client.post("/compose", data=COMPOSE)
    assert stored_priority(app) == ("normal", {1})
    assert "Priority normal" in page_text(user_client.get(response.location))


def test_a_refused_compose_keeps_the_box_ticked(user_client):
    response = user_client.post("/compose", data={**COMPOSE, "recipients": "123", "urgent": "y"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'<input id="urgent" name="urgent" type="checkbox" value="y" checked', html)


def test_the_file_check_page_sends_urgent_when_ticked(user_client, app):
    with app.app_context():
        template_id = make_template(db.session, "Dear ((name)), school is closed today.")
    check = uploaded(user_client, template_id)
    assert '<input id="urgent" name="urgent"' in user_client.get(check).get_data(as_text=True)
    response = user_client.post(check, data={"enquiry_number": "28331234", "urgent": "y"})
    assert response.status_code == 302, page_text(response)
    assert stored_priority(app) == ("urgent", {0})
