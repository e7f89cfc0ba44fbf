"""The opt-out register: numbers added all or nothing, removed only with a reason, every
change recorded for the law's 3 years and audited."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from sqlalchemy import func, select

from smspanel.models import AuditEvent, OptOut, OptOutRecord, db
from smspanel.services import opt_outs
from smspanel.services.audit import Actor, acting_as
from smspanel.services.opt_outs import NotOnRegister, OptOutRefused


@pytest.fixture
def boss(make):
    return make.user("boss", is_admin=True)


@pytest.fixture
def session(app, boss):
    actor = Actor(user_id=boss.id, username="boss", channel="web", ip_address="203.0.113.7")
    with app.app_context(), acting_as(actor):
        yield db.session


def register(session) -> list[str]:
    return list(session.scalars(select(OptOut.phone).order_by(OptOut.phone)))


def records(session, phone: str) -> list[tuple[str, str]]:
    return [(r.action, r.reason) for r in reversed(opt_outs.history(session, phone))]


def audit_actions(session) -> list[str]:
    query = select(AuditEvent.action).where(AuditEvent.action.startswith("opt_out."))
    return list(session.scalars(query.order_by(AuditEvent.id)))


def test_numbers_are_stored_as_their_8_digits_with_who_when_where_and_why(session):
    result = opt_outs.add_numbers(
        session, ["9123 4567", "+852 6123 4567", "85251234567", "91234567"], "replied STOP"
    )
    assert result.added == ["91234567", "61234567", "51234567"]
    assert result.already == []
    entry = session.get(OptOut, "61234567")
    assert (entry.reason, entry.source, entry.created_by_name, entry.ip_address) == (
        "replied STOP",
        "api",
        "boss",
        "203.0.113.7",
    )
    assert entry.created_at is not None


def test_numbers_already_on_the_register_are_reported_not_added_twice(session):
    opt_outs.add_numbers(session, ["91234567"], "first time")
    result = opt_outs.add_lines(session, "9123 4567\n\n6123 4567\n", "again")
    assert result.added == ["61234567"] and result.already == ["91234567"]
    assert session.get(OptOut, "91234567").reason == "first time"
    assert records(session, "91234567") == [("added", "first time")]


def test_one_bad_entry_adds_nothing_and_every_bad_line_is_named(session):
    with pytest.raises(OptOutRefused) as refused:
        opt_outs.add_lines(session, "91234567\nabc\n\n1234 567\n61234567", "x")
    messages = refused.value.errors["phones"]
    assert "2 entries are not Hong Kong numbers" in messages[0]
    assert messages[1:] == [
        "line 2: “abc” is not a Hong Kong number",
        "line 4: “1234 567” is not a Hong Kong number",
    ]
    assert [(e.position, e.value) for e in refused.value.invalid] == [(2, "abc"), (4, "1234 567")]
    assert register(session) == []
    assert audit_actions(session) == []


def test_an_empty_list_and_an_overlong_reason_are_refused(session):
    with pytest.raises(OptOutRefused) as empty:
        opt_outs.add_lines(session, "\n  \n")
    assert empty.value.errors == {"phones": ["enter at least one number"]}
    with pytest.raises(OptOutRefused) as long_reason:
        opt_outs.add_numbers(session, ["91234567"], "x" * 501)
    assert "reason" in long_reason.value.errors
    assert register(session) == []


def test_removal_needs_a_reason_and_keeps_the_record(session):
    opt_outs.add_numbers(session, ["91234567"], "replied STOP")
    for reason in ("", "   "):
        with pytest.raises(OptOutRefused) as refused:
            opt_outs.remove_number(session, "91234567", reason)
        assert list(refused.value.errors) == ["reason"]
    assert register(session) == ["91234567"]

    assert opt_outs.remove_number(session, "9123 4567", "consent given again in writing") == (
        "91234567"
    )
    assert register(session) == []
    assert records(session, "91234567") == [
        ("added", "replied STOP"),
        ("removed", "consent given again in writing"),
    ]
    removal = opt_outs.history(session, "91234567")[0]
    assert (removal.actor_name, removal.ip_address) == ("boss", "203.0.113.7")
    assert removal.source == "web"


def test_removing_a_number_not_on_the_register_is_refused(session):
    with pytest.raises(NotOnRegister):
        opt_outs.remove_number(session, "91234567", "consent")
    with pytest.raises(OptOutRefused) as refused:
        opt_outs.remove_number(session, "12", "consent")
    assert list(refused.value.errors) == ["phone"]


def test_history_outlives_removal_and_readding(session):
    opt_outs.add_numbers(session, ["91234567"], "STOP by SMS")
    opt_outs.remove_number(session, "91234567", "consent given again")
    opt_outs.add_lines(session, "91234567", "STOP again")
    assert records(session, "91234567") == [
        ("added", "STOP by SMS"),
        ("removed", "consent given again"),
        ("added", "STOP again"),
    ]
    assert opt_outs.history(session, "not a number") == []


def test_records_are_never_deleted_or_changed(session):
    opt_outs.add_numbers(session, ["91234567"])
    record = session.scalars(select(OptOutRecord)).one()
    session.delete(record)
    with pytest.raises(RuntimeError, match="never changed or deleted"):
        session.flush()
    session.rollback()
    record = session.scalars(select(OptOutRecord)).one()
    record.reason = "rewritten"
    with pytest.raises(RuntimeError, match="never changed or deleted"):
        session.flush()
    session.rollback()


def test_every_change_is_audited(session):
    opt_outs.add_numbers(session, ["91234567", "61234567"], "STOP")
    opt_outs.add_numbers(session, ["91234567"])  # nothing changes: nothing to audit
    opt_outs.remove_number(session, "91234567", "consent")
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action.startswith("opt_out.")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.target) for e in events] == [
        ("opt_out.add", "2 numbers"),
        ("opt_out.remove", "phone:91234567"),
    ]
    assert "91234567, 61234567" in events[0].detail and "reason: STOP" in events[0].detail
    assert events[1].detail == "reason: consent"
    assert {(e.actor_name, e.ip_address) for e in events} == {("boss", "203.0.113.7")}


def test_search_by_digits_or_a_whole_number_in_any_form(session):
    opt_outs.add_numbers(session, ["91234567", "61234567", "98765432"])
    found = opt_outs.list_opt_outs(session, "1234")
    assert [e.phone for e in found.items] == ["61234567", "91234567"] and found.total == 2
    assert [e.phone for e in opt_outs.list_opt_outs(session, "+852 9876 5432").items] == [
        "98765432"
    ]
    assert opt_outs.list_opt_outs(session, "%").items == []
    assert opt_outs.list_opt_outs(session, "").total == 3


def test_the_register_is_listed_newest_first_in_pages(session):
    for n in range(7):
        opt_outs.add_numbers(session, [f"9000000{n}"])
    first = opt_outs.list_opt_outs(session, page=1, per_page=3)
    assert first.total == 7 and first.pages == 3
    assert [e.phone for e in first.items] == ["90000006", "90000005", "90000004"]
    last = opt_outs.list_opt_outs(session, page=3, per_page=3)
    assert [e.phone for e in last.items] == ["90000000"]


def csv_file(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def test_a_file_with_a_phone_column(session):
    data = csv_file("name,phone", "Ann,9123 4567", "Bob,+852 6123 4567")
    result = opt_outs.import_file(session, data, "STOP list")
    assert result.added == ["91234567", "61234567"]
    assert {e.source for e in session.scalars(select(OptOut))} == {"csv"}


def test_a_file_without_a_header_uses_its_first_column(session):
    result = opt_outs.import_file(session, csv_file("91234567,Ann", "", "6123 4567,Bob"))
    assert result.added == ["91234567", "61234567"]


def test_an_xlsx_file_with_a_phone_column(session):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["電話", "name"])
    sheet.append([91234567, "Ann"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert opt_outs.import_file(session, buffer.getvalue()).added == ["91234567"]


def test_a_file_with_bad_rows_names_each_and_adds_nothing(session):
    data = csv_file("phone,name", "91234567,Ann", "not a number,Bob", "1234,Cat")
    with pytest.raises(OptOutRefused) as refused:
        opt_outs.import_file(session, data)
    assert refused.value.errors["file"][1:] == [
        "row 3: “not a number” is not a Hong Kong number",
        "row 4: “1234” is not a Hong Kong number",
    ]
    assert register(session) == []


def test_a_file_with_a_header_but_no_phone_column_says_what_to_name_it(session):
    with pytest.raises(OptOutRefused) as refused:
        opt_outs.import_file(session, csv_file("name,tel", "Ann,91234567"))
    assert "no phone column" in refused.value.errors["file"][0]
    with pytest.raises(OptOutRefused) as empty:
        opt_outs.import_file(session, b"")
    assert "file" in empty.value.errors


def test_export_has_a_bom_the_columns_and_every_number(session):
    opt_outs.add_numbers(session, ["91234567", "61234567"], "=HYPERLINK(evil)")
    export = opt_outs.export_opt_outs(session, page_rows=1)
    text = "".join(export.chunks)
    assert text.startswith("\ufeffphone,reason,source,created_at_hkt,added_by,ip_address\r\n")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [row[0] for row in rows[1:]] == ["61234567", "91234567"]
    assert rows[1][1] == "'=HYPERLINK(evil)"  # a formula never runs in Excel
    assert rows[1][2] == "api" and rows[1][4:] == ["boss", "203.0.113.7"]
    assert len(rows[1][3]) == 19  # YYYY-MM-DD HH:MM:SS, HKT
    assert export.filename.startswith("opt-outs-") and export.filename.endswith(".csv")
    assert session.scalar(select(func.count()).where(AuditEvent.action == "export.opt_outs")) == 1
