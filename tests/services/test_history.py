"""Listing rules for long histories: capped counts, Next/Previous by message, bounded search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from smspanel.models import Message, db, utcnow
from smspanel.services import history
from smspanel.services.history import list_messages
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.ownership import MessageScope


@pytest.fixture
def alice(make):
    return make.user("alice")


@pytest.fixture
def messages(app, make, alice):
    """45 of alice's messages, one a minute, oldest first; ids[-1] is the newest."""
    ids = [make.message(alice, [f"6000{n:04d}"], f"Notice {n}") for n in range(45)]
    start = utcnow() - timedelta(hours=2)
    with app.app_context():
        for n, message_id in enumerate(ids):
            db.session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(created_at=start + timedelta(minutes=n))
            )
        db.session.commit()
    return ids


def listed(app, alice, **args: str) -> history.HistoryPage:
    with app.app_context():
        return list_messages(
            db.session, HistoryFilters.from_args(args), MessageScope.of_user(alice.id)
        )


def ids_of(page: history.HistoryPage) -> list[int]:
    return [message.id for message, _ in page.items]


def test_counts_are_exact_up_to_the_cap_then_a_lower_bound(app, alice, messages, monkeypatch):
    assert (listed(app, alice).total, listed(app, alice).total_is_capped) == (45, False)
    monkeypatch.setattr(history, "COUNT_CAP", 30)
    page = listed(app, alice)
    assert (page.total, page.total_is_capped, page.has_next) == (30, True, True)


def test_a_page_number_past_a_capped_count_still_finds_the_last_page(
    app, alice, messages, monkeypatch
):
    monkeypatch.setattr(history, "COUNT_CAP", 30)
    page = listed(app, alice, page="99")
    assert (page.page, page.total, page.total_is_capped) == (3, 45, False)
    assert ids_of(page) == messages[:5][::-1]


def test_next_and_previous_go_by_the_neighbouring_message(app, make, alice, messages):
    newest_first = messages[::-1]
    first = listed(app, alice)
    second = listed(app, alice, **first.next_args({}))
    third = listed(app, alice, **second.next_args({}))
    assert ids_of(second) == newest_first[20:40] and second.page == 2
    assert ids_of(third) == newest_first[40:] and not third.has_next
    back = listed(app, alice, **third.prev_args({}))
    assert ids_of(back) == newest_first[20:40] and back.has_next
    assert second.prev_args({"status": "sent"}) == {"status": "sent"}  # page 1: no cursor


def test_a_new_message_does_not_shift_the_next_page(app, make, alice, messages):
    """Page 2 continues where page 1 ended, even if a message arrived meanwhile."""
    first = listed(app, alice)
    make.message(alice, content="Arrived while reading")
    second = listed(app, alice, **first.next_args({}))
    assert ids_of(second) == messages[::-1][20:40]


def test_a_cursor_naming_someone_elses_message_is_ignored(app, make, alice, messages):
    other = make.message(make.user("bob"))
    page = listed(app, alice, before=str(other), page="1")
    assert ids_of(page) == messages[::-1][:20]


def test_search_reads_the_newest_messages_and_says_from_when(
    app, make, alice, messages, monkeypatch
):
    monkeypatch.setattr(history, "SEARCH_WINDOW", 10)
    page = listed(app, alice, search="notice")
    assert ids_of(page) == messages[::-1][:10]
    with app.app_context():
        assert page.search_window_start == db.session.get(Message, messages[35]).created_at
    in_window = listed(app, alice, search="notice 3")
    assert ids_of(in_window) == [messages[n] for n in (39, 38, 37, 36, 35)]


def test_dates_move_the_search_window_back(app, alice, messages, monkeypatch):
    monkeypatch.setattr(history, "SEARCH_WINDOW", 10)
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.id.in_(messages[:3]))
            .values(created_at=datetime(2025, 1, 10, 4, 0, tzinfo=UTC))  # noon HKT
        )
        db.session.commit()
    assert messages[1] not in ids_of(listed(app, alice, search="notice 1"))
    assert ids_of(listed(app, alice, search="notice 1", date_to="2025-01-10")) == [messages[1]]


def test_a_whole_number_is_found_in_all_history_part_of_one_in_the_window(
    app, alice, messages, monkeypatch
):
    monkeypatch.setattr(history, "SEARCH_WINDOW", 10)
    assert ids_of(listed(app, alice, search="6000 0001")) == [messages[1]]
    assert ids_of(listed(app, alice, search="+852 60000001")) == [messages[1]]
    assert ids_of(listed(app, alice, search="00001")) == []  # outside the newest 10
    assert ids_of(listed(app, alice, search="00044")) == [messages[44]]
