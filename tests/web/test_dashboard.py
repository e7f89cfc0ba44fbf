"""The dashboard: recent messages by time window, totals, the queue and a 14-day chart."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from smspanel.hktime import to_hkt
from smspanel.models import Message, db, utcnow
from smspanel.services.dashboard import daily_totals, time_window
from smspanel.services.ownership import MessageScope
from tests.web.conftest import deliver, page_text


def age(app, message_id: int, delta: timedelta) -> None:
    with app.app_context():
        db.session.execute(
            update(Message).where(Message.id == message_id).values(created_at=utcnow() - delta)
        )
        db.session.commit()


def stat(text: str, label: str) -> int:
    return int(re.search(rf"{label} (\d+)", text).group(1))


def test_dashboard_shows_totals_queue_and_recent_messages(app, user_client, make, user):
    make.message(user, ["11112222", "33334444"], "Done notice")
    deliver(app, failing={"33334444"})
    make.message(user, ["55556666"], "Waiting notice")
    text = page_text(user_client.get("/"))
    assert stat(text, "Recipients sent") == 1
    assert stat(text, "Recipients failed") == 1
    assert stat(text, "Still queued") == 1
    assert "Done notice" in text and "Waiting notice" in text
    assert "Partial" in text and "Pending" in text


AGES = {
    "now": timedelta(0),
    "four hours ago": timedelta(hours=4),
    "five days ago": timedelta(days=5),
    "ten days ago": timedelta(days=10),
}


@pytest.mark.parametrize(
    ("time_filter", "window"),
    [
        (None, "today"),
        ("today", "today"),
        ("3h", timedelta(hours=3)),
        ("7d", timedelta(days=7)),
        ("bogus", "today"),
    ],
)
def test_time_filter_chooses_the_window(app, user_client, make, user, time_filter, window):
    now = utcnow()
    ids = {}
    for label, delta in AGES.items():
        ids[label] = make.message(user, content=label)
        age(app, ids[label], delta)
    if window == "today":
        expected = {
            label
            for label, delta in AGES.items()
            if to_hkt(now - delta).date() == to_hkt(now).date()
        }
    else:
        expected = {label for label, delta in AGES.items() if delta < window}
    query = {"time_filter": time_filter} if time_filter else {}
    html = user_client.get("/", query_string=query).get_data(as_text=True)
    shown = {int(n) for n in re.findall(r'href="/history/(\d+)"', html)}
    assert shown == {ids[label] for label in expected}


def test_time_window_boundaries():
    now = utcnow()
    assert time_window("3h", now).start == now - timedelta(hours=3)
    assert time_window("7d", now).start == now - timedelta(days=7)
    today = time_window(None, now)
    assert today.key == "today" and to_hkt(today.start).hour == 0


def test_chart_is_inline_svg_with_fourteen_days_and_a_table(app, user_client, make, user):
    make.message(user, ["11112222", "33334444"])
    deliver(app, failing={"33334444"})
    html = user_client.get("/").get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count('class="bar-sent"') == 14 and svg.count('class="bar-failed"') == 14
    assert "1 sent, 1 failed" in svg
    assert "<table" in html[html.index("</svg>") :]
    assert "http" not in svg.replace("http://www.w3.org", "")  # nothing fetched from outside


def test_daily_totals_group_by_hkt_day(app, make, user):
    make.message(user, ["11112222", "33334444"])
    deliver(app, failing={"33334444"})
    age(app, make.message(user, ["55556666"]), timedelta(days=3))
    deliver(app)
    age(app, make.message(user, ["97778888"]), timedelta(days=20))
    with app.app_context():
        days = daily_totals(db.session, MessageScope.of_user(user.id))
    assert len(days) == 14
    assert (days[-1].sent, days[-1].failed) == (1, 1)
    assert sum(d.sent for d in days) == 2  # the 20-day-old message is outside the chart


def test_admin_dashboard_covers_every_user(app, admin_client, make):
    make.message(make.user("bob"), content="Bob's notice")
    text = page_text(admin_client.get("/"))
    assert "Bob's notice" in text and "every user's messages" in text
