"""History and message detail: filters, search, pagination, and every recipient's fate."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from smspanel.models import Message, db
from smspanel.services import history
from smspanel.services.history_filters import HistoryFilters
from tests.web.conftest import deliver, page_text


def set_created(app, message_id: int, moment: datetime) -> None:
    with app.app_context():
        db.session.execute(
            update(Message).where(Message.id == message_id).values(created_at=moment)
        )
        db.session.commit()


@pytest.fixture
def three_messages(app, make, user):
    """A sent, a failed and a pending message of alice's, and one of another user's."""
    sent = make.message(user, ["11112222"], "Road closure notice")
    failed = make.message(user, ["33334444"], "Typhoon signal update")
    deliver(app, failing={"33334444"})
    pending = make.message(user, ["55556666", "97778888"], "Vaccination reminder")
    other = make.message(make.user("bob"), ["99990000"], "Bob's private notice")
    return {"sent": sent, "failed": failed, "pending": pending, "other": other}


def listed_ids(response) -> set[int]:
    return {int(n) for n in re.findall(r'href="/history/(\d+)"', response.get_data(as_text=True))}


def test_history_lists_only_the_users_own_messages_with_status_words(user_client, three_messages):
    response = user_client.get("/history")
    assert listed_ids(response) == {three_messages[k] for k in ("sent", "failed", "pending")}
    text = page_text(response)
    assert "Sent" in text and "Failed" in text and "Pending" in text
    assert "HKT" in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "sent"}, {"sent"}),
        ({"status": "failed"}, {"failed"}),
        ({"status": "pending"}, {"pending"}),
        ({"status": "partial"}, set()),
        ({"search": "typhoon"}, {"failed"}),
        ({"search": "NOTICE"}, {"sent"}),
        ({"search": "5555 6666"}, {"pending"}),
        ({"search": "7778"}, {"pending"}),
        ({"search": "+852 1111 2222"}, {"sent"}),
        ({"search": "%"}, set()),
        ({"search": "Bob"}, set()),
    ],
)
def test_history_filters(user_client, three_messages, query, expected):
    response = user_client.get("/history", query_string=query)
    assert response.status_code == 200
    assert listed_ids(response) == {three_messages[k] for k in expected}


def test_date_filters_use_hong_kong_days(app, user_client, make, user):
    late_evening_utc = make.message(user, content="HKT 2026-03-02 early morning")
    set_created(app, late_evening_utc, datetime(2026, 3, 1, 17, 30, tzinfo=UTC))  # 01:30 HKT 2 Mar
    day_before = make.message(user, content="HKT 2026-03-01 evening")
    set_created(app, day_before, datetime(2026, 3, 1, 15, 30, tzinfo=UTC))  # 23:30 HKT 1 Mar
    on_second = {"date_from": "2026-03-02", "date_to": "2026-03-02"}
    assert listed_ids(user_client.get("/history", query_string=on_second)) == {late_evening_utc}
    until_first = {"date_to": "2026-03-01"}
    assert listed_ids(user_client.get("/history", query_string=until_first)) == {day_before}
    detail = page_text(user_client.get(f"/history/{late_evening_utc}"))
    assert "2026-03-02 01:30:00 HKT" in detail


@pytest.mark.parametrize(
    ("query", "warning"),
    [
        ({"date_from": "02/03/2026"}, "is not a date (YYYY-MM-DD)"),
        ({"status": "lost"}, "unknown status 'lost'"),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "after the 'to' date"),
    ],
)
def test_unusable_filters_are_named_not_crashed_on(user_client, query, warning):
    response = user_client.get("/history", query_string=query)
    assert response.status_code == 200
    assert warning in page_text(response)


def next_link(response) -> str:
    found = re.search(r'href="([^"]+)" rel="next"', response.get_data(as_text=True))
    assert found, "no Next link"
    return html.unescape(found.group(1))


def test_history_is_paginated_and_pages_keep_the_filters(user_client, make, user):
    ids = [make.message(user, content=f"Paged notice {n}") for n in range(45)]
    first = user_client.get("/history", query_string={"search": "paged"})
    assert len(listed_ids(first)) == 20
    assert "Showing 1–20 of 45" in page_text(first) and "Page 1 of 3" in page_text(first)
    second = user_client.get(next_link(first))
    assert "search=paged" in next_link(first) and "page=2" in next_link(first)
    assert listed_ids(second) == set(ids[5:25]) and "Showing 21–40 of 45" in page_text(second)
    third = user_client.get("/history", query_string={"search": "paged", "page": 3})
    assert listed_ids(third) == set(ids[:5])  # newest first: the oldest five are last
    beyond = user_client.get("/history", query_string={"page": 99})
    assert listed_ids(beyond) == set(ids[:5])
    assert user_client.get("/history?page=abc").status_code == 200
    assert user_client.get("/history?before=abc&after=-1").status_code == 200


def test_a_long_history_says_more_than_and_still_pages(user_client, make, user, monkeypatch):
    monkeypatch.setattr(history, "COUNT_CAP", 30)
    ids = [make.message(user, content=f"Notice {n}") for n in range(45)]
    first = user_client.get("/history")
    assert "Showing 1–20 of more than 30" in page_text(first)
    assert "Page 1" in page_text(first) and "Page 1 of" not in page_text(first)
    third = user_client.get(next_link(user_client.get(next_link(first))))
    assert listed_ids(third) == set(ids[:5]) and 'rel="next"' not in third.get_data(as_text=True)
    previous = re.search(r'href="([^"]+)" rel="prev"', third.get_data(as_text=True))
    assert previous and listed_ids(user_client.get(html.unescape(previous.group(1)))) == set(
        ids[5:25]
    )


def test_a_search_says_how_far_back_it_read(user_client, make, user, monkeypatch):
    monkeypatch.setattr(history, "SEARCH_WINDOW", 10)
    old = make.message(user, ["11112222"], "Typhoon drill")
    for n in range(12):
        make.message(user, content=f"Notice {n}")
    text = page_text(user_client.get("/history", query_string={"search": "typhoon"}))
    assert "No messages match" in text and "read the newest 10 messages" in text
    by_number = user_client.get("/history", query_string={"search": "1111 2222"})
    assert listed_ids(by_number) == {old}


def test_filters_parse_from_a_plain_mapping():
    filters = HistoryFilters.from_args(
        {"search": "  x ", "status": "SENT", "page": "-3", "date_from": "2026-01-02"}
    )
    assert (filters.search, filters.status, filters.page) == ("x", "sent", 1)
    assert filters.query_args() == {"search": "x", "status": "sent", "date_from": "2026-01-02"}


def test_detail_shows_every_recipient_with_status_error_attempts_and_time(
    app, user_client, make, user
):
    message_id = make.message(user, ["11112222", "33334444", "55556666"], "Mixed")
    deliver(app, failing={"33334444"})
    response = user_client.get(f"/history/{message_id}")
    text = page_text(response)
    assert "Partial" in text
    assert "1111 2222 ✓ Sent — 1" in text
    assert "3333 4444 ✕ Failed gateway answered HTTP 401: Unauthorized 1" in text
    assert "HKT" in text
    assert "data-progress" not in response.get_data(as_text=True)


def test_detail_of_a_pending_message_never_reloads_itself(app, user_client, make, user):
    """WCAG 2.2.1 and 2.2.2: no meta refresh (with or without JavaScript) and no reload; the
    script updates in place, with a pause button, and without it there is a Refresh link."""
    message_id = make.message(user, ["11112222"])
    html = user_client.get(f"/history/{message_id}").get_data(as_text=True)
    assert "http-equiv" not in html and "<noscript" not in html
    assert f'data-progress-url="/history/{message_id}/progress.json"' in html
    assert 'aria-pressed="false" data-progress-pause hidden>Pause updates</button>' in html
    assert f'<a href="/history/{message_id}" data-progress-refresh>Refresh' in html
    assert 'role="status" aria-live="polite" data-progress-announcement></p>' in html
    assert "js/message_progress.js" in html
    assert "Still sending: 1 of 1 recipients pending." in page_text(
        user_client.get(f"/history/{message_id}")
    )
    deliver(app)
    html = user_client.get(f"/history/{message_id}").get_data(as_text=True)
    assert "data-progress" not in html and "message_progress.js" not in html


def test_recipients_of_a_big_message_are_paginated(app, user_client, make, user):
    numbers = [f"6{n:07d}" for n in range(120)]
    message_id = make.message(user, numbers)
    first = page_text(user_client.get(f"/history/{message_id}"))
    assert "6000 0000" in first and "6000 0049" in first and "6000 0050" not in first
    assert "Showing 1–50 of 120" in first
    last = page_text(user_client.get(f"/history/{message_id}?page=3"))
    assert "6000 0119" in last and "6000 0099" not in last


def test_detail_filters_recipients_by_status(app, user_client, make, user):
    message_id = make.message(user, ["11112222", "33334444"])
    deliver(app, failing={"33334444"})
    text = page_text(user_client.get(f"/history/{message_id}?recipient_status=failed"))
    assert "3333 4444" in text and "1111 2222" not in text


def test_someone_elses_message_is_not_found(user_client, make):
    other = make.message(make.user("bob"), content="not yours")
    assert user_client.get(f"/history/{other}").status_code == 404
    assert user_client.get("/history/999999").status_code == 404


def test_admin_sees_any_message_and_all_messages_with_the_same_filters(
    admin_client, three_messages
):
    assert admin_client.get(f"/history/{three_messages['other']}").status_code == 200
    everything = admin_client.get("/admin/messages")
    assert listed_ids(everything) == set(three_messages.values())
    assert "bob" in page_text(everything)
    only_bob = admin_client.get("/admin/messages", query_string={"search": "private"})
    assert listed_ids(only_bob) == {three_messages["other"]}
    sent = admin_client.get("/admin/messages", query_string={"status": "sent"})
    assert listed_ids(sent) == {three_messages["sent"]}


def test_a_search_with_control_characters_is_cleaned_not_a_server_error(user_client):
    assert user_client.get("/history?search=ab%00c").status_code == 200


def test_history_rows_say_how_many_were_skipped_and_cancelled(app, user_client, make, user):
    """So the counts add up to the recipients on the list, not only on the message's page."""
    make.message(user, ["91234567", "28331234", "21234567"], "Office lines too")  # 2 fixed
    text = page_text(user_client.get("/history"))
    assert "3 0 / 0 / 1 2 skipped" in text
    assert "cancelled" not in text
