"""/account/webhook: the form (fields `url` and `events`), its errors named beside the fields
with the typed values kept, the secret shown once in the answer that made it, rotate and
remove, and the recent deliveries with a resend each."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from smspanel.models import Webhook, db, utcnow
from tests.web.conftest import login, page_text
from tests.webhook_helpers import RECEIVER

SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{40,}")


pytestmark = pytest.mark.usefixtures("test_names_resolve")


def stored(app, user) -> Webhook | None:
    with app.app_context():
        webhook = db.session.scalar(select(Webhook).where(Webhook.user_id == user.id))
        if webhook is not None:
            db.session.expunge(webhook)
        return webhook


def save(client, url=RECEIVER, events=("message.final",)):
    return client.post("/account/webhook", data={"url": url, "events": list(events)})


def test_the_page_offers_the_form_and_is_linked_from_the_header(user_client):
    page = user_client.get("/account/webhook")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'href="/account/webhook" aria-current="page"' in body
    assert 'name="url"' in body
    assert re.search(r'name="events" type="checkbox" value="message.final"\s+checked', body)
    assert not re.search(r'value="recipient.final"\s+checked', body)
    assert "No webhook is set" in page_text(page)
    assert "No deliveries yet" in page_text(page)
    assert "Make a new secret" not in page_text(page)  # nothing to rotate or remove yet
    dashboard = user_client.get("/").get_data(as_text=True)
    assert 'href="/account/webhook"' in dashboard


def test_creating_shows_the_secret_in_that_answer_only(app, user_client, user):
    created = save(user_client, events=["message.final", "recipient.final"])
    assert created.status_code == 200
    shown = SECRET.findall(created.get_data(as_text=True))
    webhook = stored(app, user)
    assert shown == [webhook.secret]
    assert "shown only this once" in page_text(created)
    assert created.headers["Cache-Control"] == "no-store"
    assert webhook.secret not in created.headers.get("Set-Cookie", "")
    assert (webhook.url, webhook.events) == (RECEIVER, "message.final,recipient.final")
    again = user_client.get("/account/webhook")
    assert not SECRET.search(again.get_data(as_text=True))
    assert RECEIVER in again.get_data(as_text=True)


def test_saving_changes_keeps_the_secret_and_redirects(app, user_client, user):
    save(user_client)
    secret = stored(app, user).secret
    changed = save(user_client, RECEIVER + "/v2", ["recipient.final"])
    assert changed.status_code == 302 and changed.location == "/account/webhook"
    webhook = stored(app, user)
    assert (webhook.url, webhook.events, webhook.secret) == (
        RECEIVER + "/v2",
        "recipient.final",
        secret,
    )
    page = user_client.get("/account/webhook")
    assert "Its secret is unchanged" in page_text(page)
    assert not SECRET.search(page.get_data(as_text=True))


def test_errors_are_summarised_and_named_beside_their_fields_with_the_typed_values_kept(
    app, user_client, user
):
    refused = save(user_client, "http://hooks.example.com/typed", [])
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    text = page_text(refused)
    assert "The webhook was not saved" in text
    assert 'href="#url"' in body and 'href="#events"' in body
    assert 'id="url-errors"' in body and 'id="events-errors"' in body
    assert 'aria-describedby="url-hint url-errors" aria-invalid="true"' in body
    assert "URL: The URL must use https://" in text
    assert "Events: Choose at least one event." in text
    assert 'value="http://hooks.example.com/typed"' in body
    assert 'value="message.final" checked' not in body  # the choice as typed: none
    assert stored(app, user) is None


def test_an_unknown_event_value_is_named(user_client):
    refused = save(user_client, events=["message.final", "everything"])
    assert refused.status_code == 422
    assert "“everything” is not an event" in page_text(refused)
    assert re.search(r'value="message.final"\s+checked', refused.get_data(as_text=True))


def test_http_to_a_private_receiver_when_the_panel_allows_it(app, user_client, user):
    app.config["WEBHOOK_ALLOW_HTTP"] = True
    page = user_client.get("/account/webhook")
    assert "to this host or a private network (this panel allows it)" in page_text(page)
    assert save(user_client, "http://127.0.0.1:8000/hook").status_code == 200
    assert stored(app, user).url == "http://127.0.0.1:8000/hook"


def test_rotating_shows_the_new_secret_once(app, user_client, user):
    save(user_client)
    old = stored(app, user).secret
    rotated = user_client.post("/account/webhook/secret")
    assert rotated.status_code == 200
    new = stored(app, user).secret
    assert new != old
    assert SECRET.findall(rotated.get_data(as_text=True)) == [new]
    assert "New secret made" in page_text(rotated)


def test_rotating_or_removing_without_a_webhook_says_so(user_client):
    rotated = user_client.post("/account/webhook/secret", follow_redirects=True)
    assert "There is no webhook to make a new secret for." in page_text(rotated)
    removed = user_client.post("/account/webhook/delete", follow_redirects=True)
    assert "There is no webhook to remove." in page_text(removed)


def test_removing_asks_first_and_stops_pending_deliveries(app, user_client, user, add_delivery):
    save(user_client)
    page = user_client.get("/account/webhook").get_data(as_text=True)
    assert re.search(r'action="/account/webhook/delete"\s+data-confirm="Remove the webhook\?', page)
    assert re.search(r'action="/account/webhook/secret"\s+data-confirm=', page)
    pending = add_delivery(user.id, status="pending")
    removed = user_client.post("/account/webhook/delete", follow_redirects=True)
    assert "Webhook removed; 1 pending delivery was stopped." in page_text(removed)
    assert stored(app, user) is None
    assert add_delivery.row(pending).last_error == "webhook removed"


def test_recent_deliveries_are_listed_in_hkt_with_a_resend_each(
    app, user_client, user, make, add_delivery
):
    save(user_client)
    moment = utcnow().replace(microsecond=0) - timedelta(hours=1)
    delivery_id = add_delivery(
        user.id,
        created_at=moment,
        event_type="recipient.final",
        message_id=12,
        recipient_count=300,
        last_status_code=503,
        last_error="HTTP 503 from the receiver",
    )
    add_delivery(make.user().id, last_error="someone else's")
    page = user_client.get("/account/webhook")
    body, text = page.get_data(as_text=True), page_text(page)
    hkt = (moment + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert f"{hkt} HKT" in text
    assert "recipient.final" in text and "300 recipients" in text
    assert "HTTP 503" in text and "HTTP 503 from the receiver" in text
    assert "Failed" in text
    assert "someone else's" not in text
    assert f'action="/account/webhook/deliveries/{delivery_id}/resend"' in body
    assert 'href="/history/12"' in body

    resent = user_client.post(f"/account/webhook/deliveries/{delivery_id}/resend")
    assert resent.status_code == 302 and resent.location == "/account/webhook"
    assert add_delivery.row(delivery_id).status == "pending"
    page = user_client.get("/account/webhook")
    assert f"Delivery {delivery_id} will be sent again now." in page_text(page)
    assert "Pending" in page_text(page)


def test_resend_of_another_users_delivery_is_404_and_without_a_webhook_is_refused(
    user_client, user, make, add_delivery
):
    theirs = add_delivery(make.user().id)
    assert user_client.post(f"/account/webhook/deliveries/{theirs}/resend").status_code == 404
    mine = add_delivery(user.id)
    refused = user_client.post(f"/account/webhook/deliveries/{mine}/resend", follow_redirects=True)
    assert "Not resent: set a webhook first." in page_text(refused)
    assert add_delivery.row(mine).status == "failed"


def test_deliveries_come_in_pages_and_resend_returns_to_the_page(
    app, user_client, user, add_delivery
):
    save(user_client)
    start = utcnow() - timedelta(hours=2)
    ids = [add_delivery(user.id, created_at=start + timedelta(seconds=n)) for n in range(51)]
    first = user_client.get("/account/webhook").get_data(as_text=True)
    assert 'href="/account/webhook?page=2"' in first
    second = user_client.get("/account/webhook?page=2").get_data(as_text=True)
    assert f'id="delivery-{ids[0]}"' in second and f'id="delivery-{ids[1]}"' not in second
    resent = user_client.post(f"/account/webhook/deliveries/{ids[0]}/resend", data={"page": "2"})
    assert resent.location == "/account/webhook?page=2"


def test_a_viewer_may_set_a_webhook(app, client, make):
    viewer = make.user("watcher", department=make.department(), role="viewer")
    login(client, viewer.username)
    assert save(client).status_code == 200
    assert stored(app, viewer) is not None


def test_the_page_in_chinese(user_client):
    user_client.get("/lang/zh-Hant")
    page = user_client.get("/account/webhook")
    text = page_text(page)
    assert "事件通知" in text
    refused = save(user_client, "ftp://x.example.com/", [])
    assert "請至少選擇一項事件。" in page_text(refused)


def test_every_form_needs_its_csrf_token(app, user_client, user, add_delivery):
    app.config["WTF_CSRF_ENABLED"] = True
    delivery_id = add_delivery(user.id)
    for path in (
        "/account/webhook",
        "/account/webhook/secret",
        "/account/webhook/delete",
        f"/account/webhook/deliveries/{delivery_id}/resend",
    ):
        refused = user_client.post(path, data={"url": RECEIVER, "events": ["message.final"]})
        assert refused.status_code == 400, path
    assert stored(app, user) is None
    page = user_client.get("/account/webhook").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"url": RECEIVER, "events": ["message.final"], "csrf_token": token}
    assert user_client.post("/account/webhook", data=data).status_code == 200
    assert stored(app, user) is not None
