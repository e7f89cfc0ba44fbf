"""Files of recipients: read defensively, checked row by row, sent once, kept a day at most."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from threading import Barrier

import openpyxl
import pytest
from sqlalchemy import func, select, update

from smspanel.config import DEFAULT_UNSUBSCRIBE_TEXT
from smspanel.hktime import hkt_day_bounds_utc, to_hkt
from smspanel.models import Message, MessageStatus, Recipient, Upload, db, utcnow
from smspanel.services import recipient_files
from smspanel.services.content import MAX_CONTENT_LENGTH
from smspanel.services.recipient_files import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    UnreadableFile,
    read_recipient_file,
)
from smspanel.services.sending import DEFAULT_POLICY
from smspanel.services.uploads import (
    PLACEHOLDER_SUFFIX,
    SendFigures,
    SendRefused,
    UploadGone,
    UploadRefused,
    check_upload,
    find_upload,
    send_upload,
    store_upload,
)
from tests.campaign_helpers import make_template
from tests.registers import dnc_register, opt_out

MAX_BYTES = 20 * 1024 * 1024
NOTICE = "Dear ((name)), your appointment is on ((date))."


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(*rows: list[object], sheets: int = 1) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Recipients"
    for row in rows:
        sheet.append(row)
    for n in range(1, sheets):
        workbook.create_sheet(f"Other {n}").append(["phone"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewrite_member(data: bytes, name: str, old: bytes, new: bytes) -> bytes:
    """The same workbook with one part edited (to give a formula the value Excel saves)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == name:
                assert old in content
                content = content.replace(old, new)
            target.writestr(member, content)
    return buffer.getvalue()


def rows_of(data: bytes) -> list[tuple[int, list[str]]]:
    return read_recipient_file(data).rows


# --- reading CSV --------------------------------------------------------------------------


def test_a_utf8_csv_keeps_spreadsheet_row_numbers_and_skips_blank_rows():
    parsed = read_recipient_file(
        csv_bytes("phone,name,date", "9123 4567,陳大文,2 Dec", "", ",,", "6123 4567, Ann ,3 Dec")
    )
    assert (parsed.file_format, parsed.columns, parsed.phone_column) == (
        "utf-8",
        ["phone", "name", "date"],
        0,
    )
    assert parsed.rows == [
        (2, ["9123 4567", "陳大文", "2 Dec"]),
        (5, ["6123 4567", "Ann", "3 Dec"]),
    ]


def test_a_byte_order_mark_is_not_part_of_the_first_column_name():
    parsed = read_recipient_file(b"\xef\xbb\xbf" + csv_bytes("phone,name", "91234567,Ann"))
    assert parsed.columns == ["phone", "name"] and parsed.file_format == "utf-8"


def test_a_big5_file_is_read_as_big5_with_hong_kong_characters():
    data = csv_bytes("電話,姓名", "91234567,陳大文", "61234567,李小姐嘅仔", encoding="big5hkscs")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    parsed = read_recipient_file(data)
    assert parsed.file_format == "big5"
    assert parsed.columns == ["電話", "姓名"]
    assert [cells[1] for _, cells in parsed.rows] == ["陳大文", "李小姐嘅仔"]


def test_text_that_is_neither_utf8_nor_big5_is_refused():
    with pytest.raises(UnreadableFile, match="neither UTF-8 nor Big5"):
        read_recipient_file(b"phone,name\r\n91234567,\x81\x20\xff\xfe\x80\r\n")


def test_utf16_text_is_refused_with_what_to_save_instead():
    with pytest.raises(UnreadableFile, match=r"UTF-16.*CSV UTF-8"):
        read_recipient_file("phone\r\n91234567\r\n".encode("utf-16"))


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_the_delimiter_is_taken_from_the_header(delimiter):
    data = csv_bytes(
        delimiter.join(["phone", "name", "note"]),
        delimiter.join(["91234567", '"Chan, Tai Man"', '"a;b\tc"']),
    )
    assert rows_of(data) == [(2, ["91234567", "Chan, Tai Man", "a;b\tc"])]


def test_a_one_column_file_is_read():
    assert rows_of(csv_bytes("mobile", "91234567")) == [(2, ["91234567"])]


def test_quoted_cells_may_hold_line_breaks_and_rows_are_counted_as_a_spreadsheet_shows():
    data = csv_bytes("phone,address", '91234567,"Flat A\nTower 1"', "61234567,Tower 2")
    assert rows_of(data) == [(2, ["91234567", "Flat A\nTower 1"]), (3, ["61234567", "Tower 2"])]


def test_short_rows_are_padded_and_cells_beyond_the_header_ignored():
    assert rows_of(csv_bytes("phone,name", "91234567", "61234567,Bob,extra")) == [
        (2, ["91234567", ""]),
        (3, ["61234567", "Bob"]),
    ]


@pytest.mark.parametrize(
    "header", ["phone", "Phone", "MOBILE", "number", "電話", "手機", " phone ", "Mo-bile"]
)
def test_the_phone_column_may_have_any_of_its_names(header):
    parsed = read_recipient_file(csv_bytes(f"name,{header}", "Ann,91234567"))
    assert parsed.phone_column == 1


def test_phone_is_preferred_when_several_columns_could_be_the_numbers():
    assert read_recipient_file(csv_bytes("number,name,phone", "1,Ann,91234567")).phone_column == 2


def test_a_file_without_a_phone_column_names_the_columns_it_has():
    with pytest.raises(UnreadableFile, match=r"no phone column.*columns found: 'tel', 'name'"):
        read_recipient_file(csv_bytes("tel,name", "91234567,Ann"))


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf", b",,,\r\n"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(UnreadableFile, match="empty"):
        read_recipient_file(data)


def test_a_header_without_rows_is_refused():
    with pytest.raises(UnreadableFile, match="header row but no rows"):
        read_recipient_file(csv_bytes("phone,name", "", ","))


def test_up_to_the_row_limit_is_read_and_one_more_is_refused():
    lines = ["phone"] + [str(20_000_000 + n) for n in range(MAX_ROWS)]
    assert len(rows_of(csv_bytes(*lines))) == MAX_ROWS
    with pytest.raises(UnreadableFile, match="more than 100,000 rows"):
        read_recipient_file(csv_bytes(*lines, "91234567"))


def test_a_very_long_line_fails_at_that_line():
    data = csv_bytes("phone,name", "91234567,Ann", "61234567," + "x" * 1_000_000, "61234568,Bob")
    with pytest.raises(UnreadableFile, match="line 3 of the file is longer than 65,536"):
        read_recipient_file(data)


def test_a_cell_over_excels_limit_fails_even_across_short_lines():
    giant = '"' + ("x" * 1000 + "\n") * 40 + '"'
    with pytest.raises(UnreadableFile, match=f"row 3: a cell is longer than {MAX_CELL_CHARS:,}"):
        read_recipient_file(csv_bytes("phone,note", "91234567,ok", f"61234567,{giant}"))


def test_the_cell_limit_is_only_lowered_while_reading(monkeypatch):
    import csv

    before = csv.field_size_limit()
    with pytest.raises(UnreadableFile):
        read_recipient_file(csv_bytes("phone,note", '91234567,"' + "x\n" * 20_000 + '"'))
    assert csv.field_size_limit() == before


def test_an_absurdly_wide_header_is_refused():
    header = ",".join(["phone", *(f"c{n}" for n in range(MAX_COLUMNS))])
    with pytest.raises(UnreadableFile, match=f"{MAX_COLUMNS + 1} columns; at most {MAX_COLUMNS}"):
        read_recipient_file(csv_bytes(header, "91234567"))


# --- what is not a spreadsheet ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel .xls"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 50, "not text"),
    ],
)
def test_other_kinds_of_file_are_not_a_csv_or_xlsx(data, kind):
    with pytest.raises(UnreadableFile, match=f"not a CSV or .xlsx file.*{kind}"):
        read_recipient_file(data)


def test_a_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(UnreadableFile, match="zip but not an Excel workbook"):
        read_recipient_file(buffer.getvalue())


def test_a_damaged_workbook_is_refused_with_what_to_do():
    data = xlsx_bytes(["phone"], ["91234567"])
    with pytest.raises(UnreadableFile, match=r"the \.xlsx file is damaged"):
        read_recipient_file(data[: len(data) // 2])


# --- reading xlsx -------------------------------------------------------------------------


def test_an_xlsx_is_read_from_its_first_sheet_with_numbers_and_dates_as_people_see_them():
    data = xlsx_bytes(
        ["phone", "name", "date", "time", "count"],
        [91234567, "陳大文", date(2026, 12, 2), datetime(2026, 12, 2, 9, 30), 2.0],
        [],
        ["6123 4567", "Ann", datetime(2026, 12, 3), None, 2.5],
        sheets=3,
    )
    parsed = read_recipient_file(data)
    assert (parsed.file_format, parsed.sheet, parsed.other_sheets) == ("xlsx", "Recipients", 2)
    assert parsed.rows == [
        (2, ["91234567", "陳大文", "2026-12-02", "2026-12-02 09:30", "2"]),
        (4, ["6123 4567", "Ann", "2026-12-03", "", "2.5"]),
    ]


def test_an_xlsx_is_known_by_its_content_whatever_it_is_called():
    """Nothing reads the name: a workbook renamed .csv is still a workbook."""
    assert read_recipient_file(xlsx_bytes(["phone"], ["91234567"])).file_format == "xlsx"


def test_a_formula_saved_without_its_value_refuses_the_file_naming_the_cells():
    data = xlsx_bytes(["phone", "name"], ["91234567", "Ann"], ["61234567", '="B"&"ob"'])
    with pytest.raises(
        UnreadableFile, match=r"formulas whose results were never saved \(row 3, column name\)"
    ):
        read_recipient_file(data)


def test_a_formula_is_read_as_the_value_saved_with_it_never_evaluated():
    data = xlsx_bytes(["phone", "name"], ["61234567", '="B"&"ob"'])
    saved = rewrite_member(
        data,
        "xl/worksheets/sheet1.xml",
        b'<c r="B2"><f>"B"&amp;"ob"</f><v /></c>',
        b'<c r="B2" t="str"><f>"B"&amp;"ob"</f><v>Saved by Excel</v></c>',
    )
    assert rows_of(saved) == [(2, ["61234567", "Saved by Excel"])]


def test_a_sheet_declaring_a_huge_size_is_read_by_what_it_holds():
    data = xlsx_bytes(["phone", "name"], ["91234567", "Ann"])
    wrong = rewrite_member(
        data,
        "xl/worksheets/sheet1.xml",
        b'<dimension ref="A1:B2"',
        b'<dimension ref="A1:XFD1048576"',
    )
    assert rows_of(wrong) == [(2, ["91234567", "Ann"])]


def zip_bomb(unpacked: int) -> bytes:
    """A workbook-shaped zip whose one sheet unpacks to `unpacked` bytes of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"\x00" * (1 << 20)
            for _ in range(unpacked >> 20):
                member.write(block)
    return buffer.getvalue()


def test_a_zip_bomb_fails_before_anything_is_unpacked(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("openpyxl opened a zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    bomb = zip_bomb(64 << 20)
    assert len(bomb) < 1 << 20
    with pytest.raises(UnreadableFile, match=r"times larger than it is packed.*zip bomb"):
        read_recipient_file(bomb)


def test_a_workbook_that_unpacks_too_large_is_refused(monkeypatch):
    monkeypatch.setattr(recipient_files, "XLSX_MAX_UNPACKED_BYTES", 4 << 20)
    monkeypatch.setattr(recipient_files, "XLSX_MAX_RATIO", 10**9)
    with pytest.raises(UnreadableFile, match="unpacks to 8 MB; at most 4 MB"):
        read_recipient_file(zip_bomb(8 << 20))


# --- storing, checking, sending -----------------------------------------------------------


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


@pytest.fixture
def alice(make):
    return make.user("alice")


def add_template(session, content: str = NOTICE, name: str | None = None) -> int:
    return make_template(session, content, name)


def stored(session) -> tuple[int, int, int]:
    """Uploads, messages and recipients in the database."""
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Upload, Message, Recipient)
    )


def upload(session, user, data: bytes, template_id: int | None = None, now=None) -> Upload:
    template_id = template_id or add_template(session)
    now = now or utcnow()
    upload_id = store_upload(session, user.id, template_id, "list.csv", data, MAX_BYTES, now)
    return find_upload(session, upload_id, user.id, now)


GOOD = csv_bytes("phone,Name,date", "9123 4567,Ann,2 Dec", "61234567,Bob,3 Dec")


def test_an_upload_keeps_the_rows_compressed_for_a_day_with_the_files_digest(session, alice):
    now = utcnow()
    kept = upload(session, alice, GOOD, now=now)
    assert kept.digest == hashlib.sha256(GOOD).hexdigest()
    assert (kept.file_format, kept.row_count, kept.filename) == ("utf-8", 2, "list.csv")
    assert kept.expires_at - kept.created_at == timedelta(days=1)
    packed = json.loads(zlib.decompress(kept.rows))
    assert packed["row_numbers"] == [2, 3]
    assert packed["values_by_column"] == [
        ["9123 4567", "61234567"],
        ["Ann", "Bob"],
        ["2 Dec", "3 Dec"],
    ]


@pytest.mark.parametrize(
    ("data", "template", "field", "problem"),
    [
        (b"", True, "file", "choose a file"),
        (b"%PDF-1.4", True, "file", "not a CSV or .xlsx"),
        (csv_bytes("name", "Ann"), True, "file", "no phone column"),
        (b"x" * 2048, True, "file", "larger than"),
        (GOOD, False, "template_id", "choose a template"),
    ],
)
def test_a_refused_upload_stores_nothing_and_names_the_field(
    session, alice, data, template, field, problem
):
    template_id = add_template(session) if template else None
    max_bytes = 1024 if problem == "larger than" else MAX_BYTES
    name = "" if not data else "list.csv"
    with pytest.raises(UploadRefused) as refused:
        store_upload(session, alice.id, template_id, name, data, max_bytes, utcnow())
    assert problem in " ".join(refused.value.errors[field])
    assert stored(session) == (0, 0, 0)


def test_an_unknown_template_is_named(session, alice):
    with pytest.raises(UploadRefused, match="there is no template 999"):
        store_upload(session, alice.id, 999, "list.csv", GOOD, MAX_BYTES, utcnow())


def test_expired_uploads_are_purged_by_the_next_upload(session, alice):
    then = utcnow() - timedelta(days=2)
    old = upload(session, alice, GOOD, now=then).id
    upload(session, alice, GOOD)
    assert session.get(Upload, old) is None
    assert stored(session)[0] == 1


def test_an_upload_is_only_found_by_its_user_while_it_lives(session, alice, make):
    kept = upload(session, alice, GOOD)
    bob = make.user("bob")
    assert find_upload(session, kept.id, bob.id, utcnow()) is None
    assert find_upload(session, kept.id, alice.id, utcnow() + timedelta(days=1)) is None
    assert find_upload(session, "../" + kept.id[3:], alice.id, utcnow()) is None
    assert find_upload(session, kept.id, alice.id, utcnow()) is not None


def test_the_check_names_each_problem_by_row_and_column_as_written(session, alice):
    data = csv_bytes(
        "Phone,Name,Date",
        "9123 4567,Ann,2 Dec",
        "1234,Bob,3 Dec",
        "61234567,,4 Dec",
        f"61234568,{'x' * MAX_CONTENT_LENGTH},5 Dec",
        "61234569,#N/A,6 Dec",
    )
    check = check_upload(session, upload(session, alice, data), utcnow())
    assert [(p.row, p.column, p.kind) for p in check.problems] == [
        (3, "Phone", "invalid_phone"),
        (4, "Name", "missing_value"),
        (5, "content", "too_long"),
        (6, "Name", "spreadsheet_error"),
    ]
    assert "1234" in check.problems[0].message + check.problems[0].value
    assert (check.row_count, check.rows_with_problems, len(check.rows)) == (5, 4, 1)


def test_texts_are_checked_with_a_stand_in_suffix_of_the_enquiry_numbers_length(session, alice):
    room = MAX_CONTENT_LENGTH - len(PLACEHOLDER_SUFFIX)
    data = csv_bytes("phone,name", f"91234567,{'a' * room}", f"61234567,{'a' * (room + 1)}")
    check = check_upload(
        session, upload(session, alice, data, add_template(session, "((name))")), utcnow()
    )
    assert [r.row for r in check.rows] == [2]
    assert check.rows[0].text.endswith(" EN:XXXXXXXX")
    assert [(p.row, p.kind) for p in check.problems] == [(3, "too_long")]


def test_a_placeholder_without_a_column_is_one_problem_naming_the_columns_found(session, alice):
    rows = ["phone,name"] + [f"{20_000_000 + n},Ann" for n in range(500)]
    check = check_upload(session, upload(session, alice, csv_bytes(*rows)), utcnow())
    assert check.file_problems == [
        "the template's ((date)) has no column in the file: add a column named 'date' "
        "(columns found: 'phone', 'name')"
    ]
    assert check.problems == [] and check.rows == []


def test_a_number_repeated_keeps_its_first_row(session, alice):
    data = csv_bytes("phone,name,date", "91234567,Ann,1", "61234567,Bob,2", "9123 4567,Ann,3")
    check = check_upload(session, upload(session, alice, data), utcnow())
    assert [(r.row, r.phone) for r in check.rows] == [(2, "91234567"), (3, "61234567")]
    assert [(r.row, r.first_row) for r in check.repeated] == [(4, 2)]


def test_sending_queues_the_good_rows_with_the_enquiry_suffix_and_deletes_the_upload(
    session, alice
):
    data = csv_bytes("phone,name,date", "91234567,Ann,2 Dec", "bad,Bob,3 Dec", "61234567,陳,4 Dec")
    kept = upload(session, alice, data)
    template_id, digest = kept.template_id, kept.digest
    sent = send_upload(
        session, kept, alice.id, enquiry="2833 1234", scheduled_at="", confirm_duplicate=False,
        now=utcnow(),
    )  # fmt: skip
    assert (sent.status, sent.recipient_count) == ("pending", 2)
    message = session.get(Message, sent.id)
    assert (message.template_id, message.source_digest, message.personalised) == (
        template_id,
        digest,
        True,
    )
    texts = session.scalars(select(Recipient.content).order_by(Recipient.id)).all()
    assert texts == [
        "Dear Ann, your appointment is on 2 Dec. EN:28331234",
        "Dear 陳, your appointment is on 4 Dec. EN:28331234",
    ]
    assert stored(session) == (0, 1, 2)


def test_a_second_send_of_the_same_upload_finds_nothing(session, alice):
    kept = upload(session, alice, GOOD)
    send = {"enquiry": "28331234", "scheduled_at": "", "confirm_duplicate": True}
    send_upload(session, kept, alice.id, now=utcnow(), **send)
    with pytest.raises(UploadGone, match="already sent or has expired"):
        send_upload(session, kept, alice.id, now=utcnow(), **send)
    assert stored(session) == (0, 1, 2)


def test_a_scheduled_send_waits_for_its_time(session, alice):
    now = utcnow()
    at = (to_hkt(now) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    sent = send_upload(
        session, upload(session, alice, GOOD), alice.id, enquiry="28331234", scheduled_at=at,
        confirm_duplicate=False, now=now,
    )  # fmt: skip
    assert sent.status == MessageStatus.SCHEDULED
    assert to_hkt(sent.scheduled_at).strftime("%Y-%m-%dT%H:%M") == at


def test_a_refused_send_names_every_field_and_stores_nothing(session, alice):
    kept = upload(session, alice, GOOD)
    with pytest.raises(SendRefused) as refused:
        send_upload(
            session, kept, alice.id, enquiry="", scheduled_at="tomorrow", confirm_duplicate=False,
            now=utcnow(),
        )  # fmt: skip
    assert set(refused.value.errors) == {"enquiry_number", "scheduled_at"}
    assert len(refused.value.check.rows) == 2
    assert stored(session) == (1, 0, 0)


def test_a_file_with_no_good_row_cannot_be_sent(session, alice):
    kept = upload(session, alice, csv_bytes("phone,name,date", "bad,Ann,1", "61234567,,2"))
    with pytest.raises(SendRefused) as refused:
        send_upload(
            session, kept, alice.id, enquiry="28331234", scheduled_at="", confirm_duplicate=False,
            now=utcnow(),
        )  # fmt: skip
    assert refused.value.errors == {
        "file": [
            "none of the 2 rows can be sent: correct the problems in the file and upload it again"
        ]
    }
    assert stored(session) == (1, 0, 0)


def send_now(session, user, kept, confirm: bool = False):
    return send_upload(
        session, kept, user.id, enquiry="28331234", scheduled_at="", confirm_duplicate=confirm,
        now=utcnow(),
    )  # fmt: skip


def test_the_same_template_and_file_sent_today_needs_confirming(session, alice, make):
    template_id = add_template(session)
    first = send_now(session, alice, upload(session, alice, GOOD, template_id))
    bob = make.user("bob")  # by anyone: two people sending the same file is the mistake
    again = upload(session, bob, GOOD, template_id)
    assert check_upload(session, again, utcnow()).earlier_send.id == first.id
    with pytest.raises(SendRefused) as refused:
        send_now(session, bob, again)
    assert f"message #{first.id}" in refused.value.errors["confirm_duplicate"][0]
    assert stored(session) == (1, 1, 2)
    assert send_now(session, bob, again, confirm=True).recipient_count == 2


def test_another_file_another_template_or_another_day_is_not_a_duplicate(session, alice):
    template_id = add_template(session)
    first = send_now(session, alice, upload(session, alice, GOOD, template_id))
    other_file = upload(session, alice, GOOD + b"\r\n", template_id)
    other_template = upload(session, alice, GOOD, add_template(session, name="Other"))
    assert check_upload(session, other_file, utcnow()).earlier_send is None
    assert check_upload(session, other_template, utcnow()).earlier_send is None
    start_of_today, _ = hkt_day_bounds_utc(to_hkt(utcnow()).date())
    session.execute(
        update(Message)
        .where(Message.id == first.id)
        .values(created_at=start_of_today - timedelta(seconds=1))
    )
    session.commit()
    same = upload(session, alice, GOOD, template_id)
    assert check_upload(session, same, utcnow()).earlier_send is None


def test_two_submits_at_once_send_once(app, alice):
    """Each request checks the rows and then, in its send's transaction, deletes the upload
    first: the second waits on that row (or SQLite's writer) and finds it gone."""
    with app.app_context():
        upload_id = upload(db.session, alice, GOOD).id
    both_ready = Barrier(2)

    def submit() -> str:
        with app.app_context():
            try:
                kept = find_upload(db.session, upload_id, alice.id, utcnow())
                both_ready.wait(10)
                send_now(db.session, alice, kept)
                return "sent"
            except UploadGone:
                return "gone"
            finally:
                db.session.remove()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(f.result(timeout=60) for f in [pool.submit(submit) for _ in range(2)])
    assert outcomes == ["gone", "sent"]
    with app.app_context():
        assert stored(db.session) == (0, 1, 2)


# --- what the check page shows before the send ------------------------------------------------

# Ann and Dan get it; Bob opted out, the office is a fixed line, Cat is on the do-not-call
# register (skipped by a commercial send only).
FIVE = csv_bytes(
    "phone,name,date", "91234567,Ann,2 Dec", "61234567,Bob,3 Dec", "28331234,Office,4 Dec",
    "51234567,Cat,5 Dec", "92345678,Dan,6 Dec",
)  # fmt: skip


@pytest.fixture
def five(app, session, alice) -> Upload:
    opt_out(app, "61234567")
    dnc_register(app, ["51234567"])
    return upload(session, alice, FIVE)


def test_the_totals_leave_out_the_numbers_that_will_be_skipped(session, five):
    check = check_upload(session, five, utcnow(), policy=DEFAULT_POLICY)
    assert check.to_send == SendFigures(recipients=3, segments=3)


def test_a_commercial_sends_totals_skip_the_register_and_count_the_statement(session, five):
    """The Chinese statement makes each 1-segment GSM-7 text a 2-segment UCS-2 one."""
    check = check_upload(session, five, utcnow(), policy=DEFAULT_POLICY)
    assert check.to_send_if_commercial == SendFigures(recipients=2, segments=4)


def test_the_preview_marks_each_row_that_will_be_skipped_with_why(session, five):
    check = check_upload(session, five, utcnow(), policy=DEFAULT_POLICY)
    assert [(p.plain.row, p.skip_reason) for p in check.preview] == [
        (2, None),
        (3, "opted_out"),
        (4, "fixed_line"),
    ]
    first = check.preview[0]
    assert first.statement_added == "\n" + DEFAULT_UNSUBSCRIBE_TEXT
    assert (first.plain.segments, first.commercial.segments) == (1, 2)


@pytest.mark.parametrize("commercial", [False, True])
def test_a_send_stores_what_the_check_showed(session, alice, five, commercial):
    shown = check_upload(session, five, utcnow(), policy=DEFAULT_POLICY)
    figures = shown.to_send_if_commercial if commercial else shown.to_send
    sent = send_upload(
        session, five, alice.id, enquiry="28331234", scheduled_at="", confirm_duplicate=False,
        now=utcnow(), commercial=commercial,
    )  # fmt: skip
    assert sent.recipient_count - sent.skipped_count == figures.recipients
    assert session.get(Message, sent.id).segments == figures.segments


def test_a_refused_commercial_send_still_shows_both_kinds_of_send(session, alice, five):
    """Its rows carry the statement; a plain send's figures are counted without it."""
    with pytest.raises(SendRefused) as refused:
        send_upload(
            session, five, alice.id, enquiry="", scheduled_at="", confirm_duplicate=False,
            now=utcnow(), commercial=True,
        )  # fmt: skip
    check = refused.value.check
    assert check.to_send == SendFigures(recipients=3, segments=3)
    assert check.to_send_if_commercial == SendFigures(recipients=2, segments=4)


def test_a_row_the_statement_makes_too_long_is_not_counted_for_a_commercial_send(session, alice):
    room = MAX_CONTENT_LENGTH - len(PLACEHOLDER_SUFFIX)
    data = csv_bytes("phone,text", f"91234567,{'a' * room}", "61234567,short")
    kept = upload(session, alice, data, add_template(session, "((text))"))
    check = check_upload(session, kept, utcnow(), policy=DEFAULT_POLICY)
    assert check.to_send.recipients == 2
    assert check.to_send_if_commercial.recipients == 1
    assert check.preview[0].commercial is None
