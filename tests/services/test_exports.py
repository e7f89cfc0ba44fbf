"""CSV exports: what a spreadsheet opened on an office PC shows, and how the rows are read."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from smspanel.models import AuditEvent, Message, Recipient, Template, db, utcnow
from smspanel.services import exports
from smspanel.services.exports import (
    export_messages,
    export_recipients,
    neutralise,
)
from smspanel.services.history import list_messages
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.ownership import EVERYONE, MessageScope
from smspanel.services.personalisation import PersonalisedRow
from smspanel.services.sending import accept_personalised_send
from tests.registers import opt_out

RECIPIENT_HEADER = ["phone", "status", "skip_reason", "attempts", "sent_at_hkt", "error_message"]
MESSAGE_HEADER = [
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


def read_csv(text: str) -> list[list[str]]:
    """The rows as Excel reads them: after the byte-order mark, CRLF line ends."""
    assert text.startswith("\ufeff"), "UTF-8 with BOM, so Excel shows Chinese"
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def recipients_file(app, message_id: int, page_rows: int = 5000) -> tuple[str, str]:
    with app.app_context():
        message = db.session.get(Message, message_id)
        export = export_recipients(db.session, message, page_rows=page_rows)
        return export.filename, "".join(export.chunks)


def messages_file(app, scope: MessageScope, page_rows: int = 1000, **args: str) -> str:
    with app.app_context():
        filters = HistoryFilters.from_args(args)
        return "".join(export_messages(db.session, filters, scope, page_rows=page_rows).chunks)


def change_recipients(app, message_id: int, **values) -> None:
    with app.app_context():
        db.session.execute(
            update(Recipient).where(Recipient.message_id == message_id).values(**values)
        )
        db.session.commit()


def set_created(app, message_id: int, moment: datetime) -> None:
    with app.app_context():
        db.session.execute(
            update(Message).where(Message.id == message_id).values(created_at=moment)
        )
        db.session.commit()


def personalised_message(app, user, texts: dict[str, str]) -> int:
    with app.app_context():
        template = Template(name="Appointment", content="Dear ((name)), see you at 10:00")
        db.session.add(template)
        db.session.commit()
        rows = [
            PersonalisedRow(n, phone, text, 1) for n, (phone, text) in enumerate(texts.items(), 1)
        ]
        return accept_personalised_send(db.session, user.id, template.id, template.content, rows).id


@pytest.fixture
def alice(make):
    return make.user("alice")


# --- cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://evil","click")', '\'=HYPERLINK("http://evil","click")'),
        ("+85291234567", "'+85291234567"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Road closed = detour", "Road closed = detour"),
        ("颱風信號", "颱風信號"),
        ("", ""),
        (3, 3),
    ],
)
def test_cells_that_would_start_a_formula_are_shown_as_text(cell, shown):
    assert neutralise(cell) == shown


def test_times_are_hong_kong_time_to_the_second():
    assert exports.hkt_cell(datetime(2026, 3, 1, 16, 30, 5, 999, tzinfo=UTC)) == (
        "2026-03-02 00:30:05"
    )
    assert exports.hkt_cell(None) == ""


# --- a message's recipients ------------------------------------------------------------------


def test_recipients_file_has_the_columns_one_row_per_recipient_in_order_sent(app, make, alice):
    message_id = make.message(alice, ["9123 4567", "61234567", "+852 5123 4567"], "Water off")
    make.deliver(failing={"61234567"})
    filename, text = recipients_file(app, message_id)
    assert filename == f"message-{message_id}-recipients.csv"
    rows = read_csv(text)
    assert rows[0] == RECIPIENT_HEADER
    assert [row[:4] for row in rows[1:]] == [
        ["91234567", "sent", "", "1"],
        ["61234567", "failed", "", "1"],
        ["51234567", "sent", "", "1"],
    ]
    assert rows[2][5], "the failure's reason is given"
    assert text.count("\r\n") == 4, "CRLF rows, as Excel writes them"


def test_a_skipped_recipient_says_why_and_the_message_counts_it(app, make, alice):
    opt_out(app, "61234567")
    message_id = make.message(alice, ["91234567", "61234567", "28331234"], "Water off")
    rows = read_csv(recipients_file(app, message_id)[1])
    assert [row[:3] for row in rows[1:]] == [
        ["91234567", "pending", ""],
        ["61234567", "skipped", "opted_out"],
        ["28331234", "skipped", "fixed_line"],
    ]
    listed = read_csv(messages_file(app, MessageScope.of_user(alice.id)))
    assert dict(zip(listed[0], listed[1], strict=True))["skipped_count"] == "2"


def test_sent_times_are_hkt_and_empty_until_sent(app, make, alice):
    message_id = make.message(alice, ["91234567"])
    assert read_csv(recipients_file(app, message_id)[1])[1][4] == ""
    change_recipients(app, message_id, sent_at=datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC))
    assert read_csv(recipients_file(app, message_id)[1])[1][4] == "2026-03-02 07:59:59"


def test_a_gateway_error_that_looks_like_a_formula_is_neutralised(app, make, alice):
    message_id = make.message(alice, ["91234567"])
    change_recipients(app, message_id, status="failed", error_message='=cmd|"/c calc"!A1')
    assert read_csv(recipients_file(app, message_id)[1])[1][5] == '\'=cmd|"/c calc"!A1'


def test_a_personalised_message_adds_each_persons_text_last(app, alice):
    message_id = personalised_message(
        app, alice, {"91234567": "Dear 陳大文, see you at 10:00", "61234567": "-Dear Ann"}
    )
    rows = read_csv(recipients_file(app, message_id)[1])
    assert rows[0] == [*RECIPIENT_HEADER, "content"]
    assert [(row[0], row[-1]) for row in rows[1:]] == [
        ("91234567", "Dear 陳大文, see you at 10:00"),
        ("61234567", "'-Dear Ann"),
    ]


def test_a_plain_message_has_no_content_column(app, make, alice):
    rows = read_csv(recipients_file(app, make.message(alice, ["91234567"]))[1])
    assert rows[0] == RECIPIENT_HEADER and len(rows[1]) == len(RECIPIENT_HEADER)


def test_every_page_is_read_and_no_other_message_creeps_in(app, make, alice):
    make.message(alice, ["61110000"])
    message_id = make.message(alice, [f"9000{n:04d}" for n in range(23)])
    make.message(alice, ["61119999"])
    text = recipients_file(app, message_id, page_rows=5)[1]
    assert [row[0] for row in read_csv(text)[1:]] == [f"9000{n:04d}" for n in range(23)]


def test_each_page_is_one_chunk_read_in_its_own_short_transaction(app, make, alice):
    """Nothing is held open between chunks: the dispatcher's writes never wait on a download."""
    message_id = make.message(alice, [f"9000{n:04d}" for n in range(12)])
    with app.app_context():
        export = export_recipients(db.session, db.session.get(Message, message_id), page_rows=5)
        chunks = []
        for chunk in export.chunks:
            chunks.append(chunk)
            assert not db.session().in_transaction()
    assert [len(read_csv("\ufeff" + chunk)) for chunk in chunks[1:]] == [5, 5, 2]
    assert read_csv(chunks[0]) == [RECIPIENT_HEADER]


def test_a_message_without_recipients_is_just_the_header(app, make, alice):
    message_id = make.message(alice, ["91234567"])
    with app.app_context():
        db.session.execute(Recipient.__table__.delete())
        db.session.commit()
    assert read_csv(recipients_file(app, message_id)[1]) == [RECIPIENT_HEADER]


def test_a_recipients_export_is_audited(app, make, alice):
    message_id = make.message(alice, ["91234567", "61234567"])
    recipients_file(app, message_id)
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.recipients")
        ).one()
    assert (event.target, event.detail) == (f"message:{message_id}", "2 recipient(s)")


# --- the messages of a listing ---------------------------------------------------------------


@pytest.fixture
def history(app, make, alice):
    """Alice's 7 messages a minute apart (ids[-1] the newest), one failed; one of bob's."""
    ids = [make.message(alice, [f"6000{n:04d}"], f"Notice {n}") for n in range(6)]
    ids.append(make.message(alice, ["51230000"], "=Typhoon signal 8"))
    make.deliver(failing={"51230000"})
    start = utcnow() - timedelta(hours=1)
    for n, message_id in enumerate(ids):
        set_created(app, message_id, start + timedelta(minutes=n))
    make.message(make.user("bob"), ["70000000"], "Bob's notice")
    return ids


def test_messages_file_has_the_columns_newest_first(app, alice, history):
    rows = read_csv(messages_file(app, MessageScope.of_user(alice.id)))
    assert rows[0] == MESSAGE_HEADER
    assert [int(row[0]) for row in rows[1:]] == history[::-1]
    newest = rows[1]
    assert newest[2:] == ["alice", "failed", "1", "0", "1", "0", "'=Typhoon signal 8"]
    assert rows[-1][2:] == ["alice", "sent", "1", "1", "0", "0", "Notice 0"]


def test_message_times_are_hkt(app, make, alice):
    message_id = make.message(alice)
    set_created(app, message_id, datetime(2026, 1, 31, 16, 0, 0, tzinfo=UTC))
    assert read_csv(messages_file(app, MessageScope.of_user(alice.id)))[1][1] == (
        "2026-02-01 00:00:00"
    )


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"status": "failed"},
        {"status": "sent"},
        {"search": "notice 3"},
        {"search": "6000 0002"},
        {"search": "60000004"},
        {"date_from": "2000-01-01", "date_to": "2000-01-02"},
        {"status": "nonsense"},
    ],
)
def test_exactly_the_messages_the_filtered_history_shows(app, alice, history, args):
    scope = MessageScope.of_user(alice.id)
    with app.app_context():
        page = list_messages(db.session, HistoryFilters.from_args(args), scope)
        shown = [m.id for m, _ in page.items]
    exported = [int(row[0]) for row in read_csv(messages_file(app, scope, **args))[1:]]
    assert exported == shown


def test_all_pages_are_exported_whatever_page_the_history_was_on(app, alice, history):
    scope = MessageScope.of_user(alice.id)
    text = messages_file(app, scope, page_rows=2, page="3", before=str(history[2]))
    assert [int(row[0]) for row in read_csv(text)[1:]] == history[::-1]


def test_messages_created_in_the_same_instant_are_all_exported_once(app, make, alice):
    ids = [make.message(alice, [f"6000{n:04d}"]) for n in range(5)]
    for message_id in ids:
        set_created(app, message_id, datetime(2026, 1, 1, tzinfo=UTC))
    text = messages_file(app, MessageScope.of_user(alice.id), page_rows=2)
    assert [int(row[0]) for row in read_csv(text)[1:]] == ids[::-1]


def test_everyones_messages_name_their_senders_and_a_deleted_one_is_blank(
    app, make, alice, history
):
    with app.app_context():
        bobs = db.session.scalars(select(Message).where(Message.content == "Bob's notice")).one()
        db.session.execute(update(Message).where(Message.id == bobs.id).values(user_id=None))
        db.session.commit()
    rows = read_csv(messages_file(app, EVERYONE))
    assert len(rows) == 1 + len(history) + 1
    assert {row[2] for row in rows[1:]} == {"alice", ""}


def test_a_messages_export_is_audited_with_its_filters_and_dated_in_hkt(app, alice, history):
    with app.app_context():
        filters = HistoryFilters.from_args({"status": "failed", "search": "typhoon"})
        export = export_messages(
            db.session, filters, MessageScope.of_user(alice.id), today=date(2026, 5, 4)
        )
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.messages")
        ).one()
    assert export.filename == "messages-2026-05-04.csv"
    assert event.target == f"messages of user:{alice.id}"
    assert event.detail == "filters: search=typhoon&status=failed"


def test_download_headers_keep_the_file_out_of_every_cache():
    export = exports.CsvExport("message-7-recipients.csv", iter(()))
    assert export.headers() == {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="message-7-recipients.csv"',
        "Cache-Control": "no-store",
    }
