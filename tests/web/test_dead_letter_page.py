"""The dead-letter page: counts, filter, retry one, retry all, abandon."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from smspanel.models import DeadLetter, Message, Recipient, db
from tests.web.conftest import deliver, page_text


@pytest.fixture
def dead_letters(app, make, user):
    """Three recipients that failed for good, of one message with one success."""
    message_id = make.message(user, ["11112222", "33334444", "55556666", "97778888"], "Outage")
    deliver(app, failing={"33334444", "55556666", "97778888"})
    with app.app_context():
        ids = db.session.scalars(select(DeadLetter.id).order_by(DeadLetter.id)).all()
    return message_id, ids


def count(text: str, status: str) -> int:
    return int(re.search(rf"{status} (\d+)", text).group(1))


def test_page_lists_entries_with_counts_and_post_forms(admin_client, dead_letters):
    _, ids = dead_letters
    response = admin_client.get("/admin/dead-letter")
    text = page_text(response)
    assert count(text, "Pending") == 3 and count(text, "Retried") == 0
    assert (
        "3333 4444" in text and "gateway answered HTTP 401: Unauthorized" in text and "HKT" in text
    )
    html = response.get_data(as_text=True)
    for entry_id in ids:
        assert f'action="/admin/dead-letter/{entry_id}/retry"' in html
        assert f'action="/admin/dead-letter/{entry_id}/abandon"' in html
    assert html.count('name="csrf_token"') >= 2 * len(ids) + 1


def test_retry_one_puts_its_recipient_back_in_the_queue(app, admin_client, dead_letters):
    message_id, ids = dead_letters
    response = admin_client.post(f"/admin/dead-letter/{ids[0]}/retry")
    assert response.status_code == 302
    text = page_text(admin_client.get(response.location))
    assert f"Entry #{ids[0]} is back in the delivery queue." in text
    assert count(text, "Pending") == 2 and count(text, "Retried") == 1
    with app.app_context():
        entry = db.session.get(DeadLetter, ids[0])
        assert db.session.get(Recipient, entry.recipient_id).status == "pending"
        assert db.session.get(Message, message_id).status == "pending"
    deliver(app)  # this time the gateway accepts it
    detail = page_text(admin_client.get(f"/history/{message_id}"))
    assert "3333 4444 ✓ Sent" in detail


@pytest.mark.usefixtures("dead_letters")
def test_retry_all_and_filter_by_status(admin_client):
    response = admin_client.post("/admin/dead-letter/retry-all")
    assert "3 pending entries are back in the queue." in page_text(
        admin_client.get(response.location)
    )
    retried = page_text(admin_client.get("/admin/dead-letter?status=retried"))
    assert count(retried, "Retried") == 3 and "Retry entry" not in retried
    assert "No pending entries." in page_text(admin_client.get("/admin/dead-letter?status=pending"))
    again = admin_client.post("/admin/dead-letter/retry-all")
    assert "no pending entries to retry" in page_text(admin_client.get(again.location))


def test_abandon_keeps_the_recipient_failed(app, admin_client, dead_letters):
    _, ids = dead_letters
    response = admin_client.post(
        f"/admin/dead-letter/{ids[1]}/abandon", data={"status": "pending", "page": "1"}
    )
    assert response.location == "/admin/dead-letter?status=pending"
    text = page_text(admin_client.get(response.location))
    assert f"Entry #{ids[1]} abandoned" in text and count(text, "Abandoned") == 1
    with app.app_context():
        entry = db.session.get(DeadLetter, ids[1])
        assert entry.status == "abandoned"
        assert db.session.get(Recipient, entry.recipient_id).status == "failed"
    refused = admin_client.post(f"/admin/dead-letter/{ids[1]}/retry")
    assert "only pending dead-letter entries can be retried" in page_text(
        admin_client.get(refused.location)
    )


def test_dead_letters_are_paginated(app, admin_client, make, user):
    make.message(user, [f"6{n:07d}" for n in range(30)])
    deliver(app, failing={f"6{n:07d}" for n in range(30)})
    first = page_text(admin_client.get("/admin/dead-letter"))
    assert "Showing 1–25 of 30" in first
    second = page_text(admin_client.get("/admin/dead-letter?page=2"))
    assert "Showing 26–30 of 30" in second
