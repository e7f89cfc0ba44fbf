"""Downloading CSV files from the detail and history pages: whose files, which rows, how sent."""

from __future__ import annotations

import csv
import html
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from smspanel.models import AuditEvent, db
from tests.web.conftest import login


def read_csv(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def download_link(response) -> str:
    """The page's "Download CSV" link."""
    found = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Download CSV</a>', response.get_data(True))
    assert found, "the page offers a Download CSV link"
    return html.unescape(found.group(1))


def audit_events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return events


@pytest.fixture
def alices(make, user):
    """Two of alice's messages (one failed) and one of bob's."""
    sent = make.message(user, ["91234567", "61234567"], "Road closure notice")
    failed = make.message(user, ["51234567"], "Typhoon signal update")
    make.deliver(failing={"51234567"})
    bobs = make.message(make.user("bob"), ["98765432"], "Bob's private notice")
    return {"sent": sent, "failed": failed, "bobs": bobs}


# --- a message's recipients -------------------------------------------------------------------


def test_the_detail_page_offers_its_recipients_as_a_csv(user_client, alices):
    page = user_client.get(f"/history/{alices['sent']}")
    assert download_link(page) == f"/history/{alices['sent']}/export.csv"


def test_own_recipients_download_as_an_uncached_utf8_csv_attachment(user_client, alices):
    response = user_client.get(f"/history/{alices['sent']}/export.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="message-{alices["sent"]}-recipients.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == ["phone", "status", "skip_reason", "attempts", "sent_at_hkt", "error_message"]
    assert [row[:2] for row in rows[1:]] == [["91234567", "sent"], ["61234567", "sent"]]


def test_another_users_recipients_are_not_found(user_client, alices):
    response = user_client.get(f"/history/{alices['bobs']}/export.csv")
    assert response.status_code == 404
    assert "98765432" not in response.get_data(as_text=True)


def test_a_missing_message_is_not_found(user_client, alices):
    assert user_client.get("/history/999999/export.csv").status_code == 404


def test_an_admin_may_download_anyones_recipients(admin_client, alices):
    response = admin_client.get(f"/history/{alices['bobs']}/export.csv")
    assert response.status_code == 200
    assert read_csv(response)[1][0] == "98765432"


def test_logged_out_visitors_are_sent_to_log_in(client, alices):
    response = client.get(f"/history/{alices['sent']}/export.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_recipients_download_is_audited_as_the_user_on_the_web(app, user_client, user, alices):
    user_client.get(f"/history/{alices['failed']}/export.csv").get_data()
    [event] = audit_events(app, "export.recipients")
    assert (event.actor_name, event.channel, event.target) == (
        "alice",
        "web",
        f"message:{alices['failed']}",
    )


def test_a_refused_download_leaves_no_audit_record(app, user_client, alices):
    user_client.get(f"/history/{alices['bobs']}/export.csv")
    assert audit_events(app, "export.recipients") == []


# --- the history's messages -------------------------------------------------------------------


def exported_ids(response) -> list[int]:
    return [int(row[0]) for row in read_csv(response)[1:]]


def test_history_exports_the_users_own_messages_newest_first(user_client, alices):
    response = user_client.get("/history/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="messages-\d{4}-\d{2}-\d{2}\.csv"',
        response.headers["Content-Disposition"],
    )
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == [
        "id",
        "created_at_hkt",
        "sender",
        "status",
        "recipient_count",
        "success_count",
        "failed_count",
        "skipped_count",
        "content",
    ]
    assert exported_ids(response) == [alices["failed"], alices["sent"]]
    assert rows[1][2:] == ["alice", "failed", "1", "0", "1", "0", "Typhoon signal update"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["failed"]),
        ("status=sent", ["sent"]),
        ("search=road", ["sent"]),
        ("search=5123+4567", ["failed"]),
        ("date_from=2000-01-01&date_to=2000-01-31", []),
        ("status=bogus", ["failed", "sent"]),
    ],
)
def test_history_export_keeps_the_filters(user_client, alices, query, expected):
    response = user_client.get(f"/history/export.csv?{query}")
    assert exported_ids(response) == [alices[name] for name in expected]


def test_the_history_link_carries_the_current_filters(user_client, alices):
    link = download_link(user_client.get("/history?status=failed&search=typhoon&page=1"))
    parts = urlsplit(link)
    assert parts.path == "/history/export.csv"
    assert parse_qs(parts.query) == {"status": ["failed"], "search": ["typhoon"]}
    assert exported_ids(user_client.get(link)) == [alices["failed"]]


def test_history_without_messages_offers_no_download(user_client):
    assert "Download CSV" not in user_client.get("/history").get_data(as_text=True)


def test_an_admins_history_export_is_their_own_like_their_history(admin_client, make, admin):
    own = make.message(admin, ["91234567"], "Admin's notice")
    make.message(make.user("bob"), ["98765432"], "Bob's notice")
    assert exported_ids(admin_client.get("/history/export.csv")) == [own]


def test_all_messages_export_for_admins_with_senders_and_filters(admin_client, alices):
    page = admin_client.get("/admin/messages?search=notice")
    link = download_link(page)
    assert urlsplit(link).path == "/admin/messages/export.csv"
    rows = read_csv(admin_client.get(link))
    assert [(int(row[0]), row[2]) for row in rows[1:]] == [
        (alices["bobs"], "bob"),
        (alices["sent"], "alice"),
    ]


def test_only_admins_may_export_everyones_messages(user_client, alices):
    assert user_client.get("/admin/messages/export.csv").status_code == 403


def test_a_history_export_is_audited_with_its_filters(app, client, make, user, alices):
    login(client, user.username)
    client.get("/history/export.csv?status=failed").get_data()
    [event] = audit_events(app, "export.messages")
    assert (event.actor_name, event.channel) == ("alice", "web")
    assert event.target == f"messages of user:{user.id}"
    assert event.detail == "filters: status=failed"
