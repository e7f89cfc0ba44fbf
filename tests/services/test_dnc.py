"""OFCA's do-not-call register: a file checked whole before anything changes, a new copy
that replaces the old one at once, and the old copy in use until then, whatever happens."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from smspanel.hktime import HKT
from smspanel.models import AuditEvent, DncImport, DncImportStatus, DncNumber, db, utcnow
from smspanel.services import dnc
from smspanel.services.audit import Actor, acting_as
from smspanel.services.dnc import (
    ImportBusy,
    RegisterFileRefused,
    active_dnc_summary,
    import_register,
    read_register_file,
    start_import,
)

ACTIVE_NUMBERS = text(
    "SELECT n.phone FROM dnc_numbers n JOIN dnc_imports i ON i.id = n.import_id "
    "WHERE i.status = 'active' ORDER BY n.phone"
)


@pytest.fixture
def session(app):
    with app.app_context(), acting_as(Actor(username="boss", channel="web")):
        yield db.session


def register_file(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def active_numbers(session) -> list[str]:
    with session.get_bind().connect() as connection:  # another connection, as a send's
        return [row[0] for row in connection.execute(ACTIVE_NUMBERS)]


def statuses(session) -> list[tuple[int, str, int]]:
    session.expire_all()
    rows = session.scalars(select(DncImport).order_by(DncImport.id))
    return [(i.id, i.status, i.number_count) for i in rows]


def rows_of(session, import_id: int) -> int:
    return len(session.scalars(select(DncNumber).where(DncNumber.import_id == import_id)).all())


# --- reading the file ----------------------------------------------------------------------


def test_every_way_ofca_writes_a_number_is_read_as_its_8_digits():
    data = "\ufeffPhone number\r\n91234567\r\n6123 4567\r\n+852 5123 4567\r\n85298765432\r\n\r\n"
    register = read_register_file(data.encode())
    assert register.numbers == ["91234567", "61234567", "51234567", "98765432"]
    assert register.header == "Phone number"


def test_a_csv_file_has_its_number_in_the_first_column():
    data = register_file("number,registered_on", "91234567,2026-11-30", '"6123 4567",2026-12-01')
    assert read_register_file(data).numbers == ["91234567", "61234567"]


def test_a_malformed_line_is_named_with_its_number_and_content():
    data = register_file("91234567", "61234567", "9123 456", "", "hello", "51234567")
    with pytest.raises(RegisterFileRefused) as refused:
        read_register_file(data)
    assert refused.value.problems == [(3, "9123 456"), (5, "hello")]
    assert refused.value.count == 2
    message = str(refused.value)
    assert "2 lines are not Hong Kong numbers" in message
    assert "line 3: “9123 456”" in message and "line 5: “hello”" in message
    assert "nothing was imported" in message


def test_only_the_first_line_may_be_a_header():
    with pytest.raises(RegisterFileRefused) as refused:
        read_register_file(register_file("91234567", "phone"))
    assert refused.value.problems == [(2, "phone")]


def test_many_bad_lines_are_counted_and_the_first_named():
    data = register_file(*(f"bad {n}" for n in range(30)), "91234567")
    with pytest.raises(RegisterFileRefused) as refused:
        read_register_file(data)
    assert refused.value.count == 29  # the first is taken as a header
    assert len(refused.value.problems) == dnc.PROBLEMS_NAMED
    assert "and 9 more" in str(refused.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"phone\n", "the file has no numbers"),
        (b"PK\x03\x04 zip", "not a text file"),
        (b"9123\x004567\n", "not a text file"),
    ],
)
def test_a_file_that_is_not_a_register_says_so(data, says):
    with pytest.raises(RegisterFileRefused, match=says):
        read_register_file(data)


# --- importing -----------------------------------------------------------------------------


def test_the_first_import_becomes_the_active_copy(session):
    result = import_register(session, register_file("91234567", "61234567", "91234567"), "r.txt")
    assert (result.number_count, result.repeats, result.replaced_id) == (2, 1, None)
    assert active_numbers(session) == ["61234567", "91234567"]
    assert statuses(session) == [(result.import_id, "active", 2)]
    imported = session.get(DncImport, result.import_id)
    assert imported.filename == "r.txt" and imported.imported_by_name == "boss"
    assert imported.imported_at is not None


def test_a_new_import_replaces_the_old_copy_and_its_rows_are_deleted(session):
    first = import_register(session, register_file("91234567", "61234567"), "november.txt")
    second = import_register(session, register_file("61234567", "51234567"), "december.txt")
    assert second.replaced_id == first.import_id
    assert active_numbers(session) == ["51234567", "61234567"]
    assert statuses(session) == [(first.import_id, "replaced", 2), (second.import_id, "active", 2)]
    assert rows_of(session, first.import_id) == 0
    details = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "dnc.import").order_by(AuditEvent.id)
    ).all()
    assert details == [
        "2 numbers from november.txt",
        f"2 numbers from december.txt; replaced copy {first.import_id}",
    ]


def test_a_refused_file_changes_nothing(session):
    first = import_register(session, register_file("91234567"), "good.txt")
    with pytest.raises(RegisterFileRefused):
        import_register(session, register_file("61234567", "oops 1"), "bad.txt")
    assert active_numbers(session) == ["91234567"]
    assert statuses(session) == [(first.import_id, "active", 1)]


def test_a_load_that_fails_midway_leaves_the_old_copy_active(session, monkeypatch):
    first = import_register(session, register_file("91234567"), "good.txt")
    monkeypatch.setitem(dnc.INSERT_BATCH_ROWS, session.get_bind().dialect.name, 2)
    inserted = dnc._insert
    batches = []

    def fail_on_the_second_batch(session_, import_id, batch):
        batches.append(batch)
        if len(batches) == 2:
            raise OSError("disk full")
        inserted(session_, import_id, batch)

    monkeypatch.setattr(dnc, "_insert", fail_on_the_second_batch)
    numbers = [f"6000000{n}" for n in range(6)]
    with pytest.raises(OSError, match="disk full"):
        import_register(session, register_file(*numbers), "broken.txt")
    assert active_numbers(session) == ["91234567"]
    (_, old), (failed_id, failed) = [(i, s) for i, s, _ in statuses(session)]
    assert (old, failed) == ("active", "failed")
    assert rows_of(session, failed_id) == 0  # its partial copy is gone
    reason = session.scalar(
        select(AuditEvent.detail).where(AuditEvent.action == "dnc.import_failed")
    )
    assert reason == "OSError: disk full"
    monkeypatch.setattr(dnc, "_insert", inserted)
    assert import_register(session, register_file("51234567"), "again.txt").replaced_id == (
        first.import_id
    )


def test_sends_read_the_old_copy_until_the_new_one_is_complete(session, monkeypatch):
    import_register(session, register_file("91234567"), "old.txt")
    monkeypatch.setitem(dnc.INSERT_BATCH_ROWS, session.get_bind().dialect.name, 2)
    seen_while_loading = []

    def look(loaded: int, total: int) -> None:
        seen_while_loading.append((loaded, total, active_numbers(session)))

    numbers = ["61234567", "61234568", "61234569", "61234570", "61234571"]
    import_id = start_import(session, "new.txt")
    dnc.load_import(session, import_id, list(numbers), look)
    assert seen_while_loading == [
        (2, 5, ["91234567"]),
        (4, 5, ["91234567"]),
        (5, 5, ["91234567"]),
    ]
    assert active_numbers(session) == numbers


def test_one_import_at_a_time_and_an_abandoned_one_is_failed_after_an_hour(session):
    import_register(session, register_file("91234567"), "in use.txt")
    stuck = start_import(session, "crashed.txt")
    session.execute(
        text("INSERT INTO dnc_numbers (import_id, phone) VALUES (:i, '61234567')"), {"i": stuck}
    )
    session.commit()
    with pytest.raises(ImportBusy, match="another import of the register is loading"):
        start_import(session, "second.txt")
    session.execute(
        update(DncImport)
        .where(DncImport.id == stuck)
        .values(started_at=utcnow() - timedelta(hours=1, minutes=1))
    )
    session.commit()
    result = import_register(session, register_file("51234567"), "next.txt")
    assert dict((i, s) for i, s, _ in statuses(session))[stuck] == "failed"
    assert rows_of(session, stuck) == 0
    assert active_numbers(session) == ["51234567"]
    assert result.number_count == 1


# --- how old the copy in use is ------------------------------------------------------------


def imported_on(session, day: date) -> None:
    import_register(session, register_file("91234567"), "register.txt")
    moment = datetime(day.year, day.month, day.day, 10, 0, tzinfo=HKT)
    active = DncImport.status == DncImportStatus.ACTIVE
    session.execute(update(DncImport).where(active).values(imported_at=moment))
    session.commit()


def test_no_copy_means_no_summary(session):
    assert active_dnc_summary(session) is None


def test_the_summary_gives_date_size_and_who(session):
    import_register(session, register_file("91234567", "61234567"), "register.txt")
    summary = active_dnc_summary(session)
    assert (summary.number_count, summary.imported_by, summary.filename) == (
        2,
        "boss",
        "register.txt",
    )
    assert summary.working_days_old == 0 and not summary.is_stale


def test_a_copy_is_stale_after_10_working_days_weekends_not_counted(session):
    imported_on(session, date(2026, 11, 2))  # a Monday; no holiday in the next three weeks
    assert active_dnc_summary(session, today=date(2026, 11, 16)).working_days_old == 10
    assert not active_dnc_summary(session, today=date(2026, 11, 16)).is_stale
    assert active_dnc_summary(session, today=date(2026, 11, 17)).is_stale


def test_public_holidays_are_not_working_days(session):
    # Friday 11 December 2026: Christmas Day (Fri) and the day after (Sat) are holidays,
    # so the 10th working day after it is Monday 28 December.
    imported_on(session, date(2026, 12, 11))
    on_the_28th = active_dnc_summary(session, today=date(2026, 12, 28))
    assert on_the_28th.working_days_old == 10 and not on_the_28th.is_stale
    assert active_dnc_summary(session, today=date(2026, 12, 29)).is_stale
