"""OFCA's do-not-call register (UEMO, Cap. 593, s.11): the copy commercial sends skip.

An import replaces the copy in use without anyone waiting for it. The whole file is read
and checked first (a malformed line is named, and nothing changes); then the numbers are
loaded as a new copy (`DncImport` `loading`) beside the one in use, in batches, each its
own short transaction: COPY on PostgreSQL, multi-row INSERTs on MariaDB/MySQL, executemany
on SQLite. One short transaction then makes the new copy `active` and the old one
`replaced`; readers (sends) read whichever copy is active throughout. The replaced copy's
rows are deleted afterwards, in batches. A load that fails deletes what it loaded and is
marked `failed`; the old copy stays active. A load abandoned by a crash is marked failed
by the next import once it is an hour old.

The law exempts numbers listed for less than 10 working days, so a copy older than that
may miss numbers that now count: the page warns (`active_dnc_summary`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from smspanel.hktime import to_hkt
from smspanel.models import AuditEvent, DncImport, DncImportStatus, DncNumber, utcnow
from smspanel.services import audit
from smspanel.services.phone import normalize_phone
from smspanel.services.transactions import dialect_name, locks_rows, transaction
from smspanel.services.wording import _, ngettext
from smspanel.services.working_days import working_days_after

log = logging.getLogger(__name__)

STALE_AFTER_WORKING_DAYS = 10
ABANDONED_AFTER = timedelta(hours=1)  # a `loading` copy this old was left by a crash
# Rows per transaction. A SQLite batch holds the one write lock while it runs (10,000 rows:
# ~40 ms, where 50,000 took ~250 ms), so sends get their turn between batches at the cost
# of a few seconds in all; the servers lock nothing a send reads or writes.
INSERT_BATCH_ROWS = {"sqlite": 10_000, "postgresql": 200_000}
DEFAULT_INSERT_BATCH_ROWS = 50_000
MYSQL_STATEMENT_ROWS = 10_000  # one multi-row INSERT: ~170 kB, well under max_allowed_packet
DELETE_BATCH_ROWS = {"sqlite": 10_000}
DEFAULT_DELETE_BATCH_ROWS = 50_000
# After each SQLite batch: a writer queued on the lock file wakes and takes it; without the
# pause the loader took it straight back, and a send waited for several batches.
SQLITE_PAUSE_SECONDS = 0.005
PROBLEMS_NAMED = 20
SHOWN_CHARS = 60

_numbers, _imports = DncNumber.__table__, DncImport.__table__
_FIELD_END = re.compile(r"[,;\t]")
INSERT_VALUES = "INSERT INTO dnc_numbers (import_id, phone) VALUES "


class RegisterFileRefused(ValueError):
    """The file cannot be imported as it is; nothing was replaced. `problems` names each
    malformed line (the first PROBLEMS_NAMED of them)."""

    def __init__(self, message: str, problems: Sequence[tuple[int, str]] = (), count: int = 0):
        self.problems = list(problems)  # (line number, the line as written)
        self.count = count or len(self.problems)
        named = "; ".join(
            _("line %(line)s: “%(content)s”", line=n, content=c) for n, c in self.problems
        )
        more = self.count - len(self.problems)
        if more > 0:
            named += "; " + ngettext("and %(num)s more", "and %(num)s more", more)
        super().__init__(f"{message}: {named}" if named else message)
        self.summary = message


class ImportBusy(RuntimeError):
    """Another import is loading; one at a time."""


class ImportAbandoned(RuntimeError):
    """The copy being loaded was marked failed by someone else (it looked abandoned)."""


@dataclass(frozen=True)
class RegisterFile:
    """The numbers of a register file as read: 8 digits each, in file order, repeats kept."""

    numbers: list[str]
    lines: int
    header: str | None = None

    @property
    def distinct_count(self) -> int:
        """How many numbers the copy will hold: a repeat is loaded once."""
        return len(set(self.numbers))


def read_register_file(data: bytes) -> RegisterFile:
    """Check every line of OFCA's file: one number per line, or a CSV with the number in
    the first column; 8 digits, with or without +852/852 and a space; a first line with
    letters in it is a header. Raise RegisterFileRefused naming each malformed line."""
    if not data.strip():
        raise RegisterFileRefused(_("the file is empty"))
    head = data[:8192]
    if head.startswith((b"PK", b"%PDF", b"\xd0\xcf\x11\xe0")) or b"\x00" in head:
        raise RegisterFileRefused(
            _(
                "this is not a text file: the register is imported as OFCA gives it, a text "
                "or CSV file with one number per line"
            )
        )
    content = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = content.split("\n")
    numbers: list[str] = []
    keep = numbers.append
    problems: list[tuple[int, str]] = []
    problem_count = 0
    header: str | None = None
    for number, line in enumerate(lines, start=1):
        if len(line) == 8 and line.isdigit() and line.isascii():  # the usual line, quickly
            keep(line)
            continue
        stripped = line.strip()
        if not stripped:
            continue
        first = _FIELD_END.split(stripped, maxsplit=1)[0].strip().strip('"').strip()
        phone = normalize_phone(first)
        if phone is not None:
            keep(phone)
        elif header is None and not numbers and not problem_count and _has_letters(first):
            header = stripped
        else:
            problem_count += 1
            if len(problems) < PROBLEMS_NAMED:
                problems.append((number, audit.clean(stripped, SHOWN_CHARS)))
    if problem_count:
        raise RegisterFileRefused(
            ngettext(
                "%(num)s line is not a Hong Kong number, so nothing was imported and the "
                "copy in use is unchanged",
                "%(num)s lines are not Hong Kong numbers, so nothing was imported and the "
                "copy in use is unchanged",
                problem_count,
            ),
            problems,
            problem_count,
        )
    if not numbers:
        raise RegisterFileRefused(_("the file has no numbers"))
    return RegisterFile(numbers, len(lines), header)


def _has_letters(value: str) -> bool:
    return any(ch.isalpha() for ch in value)


# --- loading a copy ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    import_id: int
    number_count: int  # distinct numbers in the new copy
    repeats: int  # lines that repeated a number already read
    seconds: float  # from the start of the load to the new copy being active
    replaced_id: int | None


Progress = Callable[[int, int], None]  # (numbers loaded so far, numbers in all)


def start_import(session: Session, filename: str, now: datetime | None = None) -> int:
    """Make a `loading` copy, after marking abandoned ones failed; refuse while another
    import is loading. The new copy's id."""
    now = now or utcnow()
    with transaction(session, write=True):
        _fail_abandoned(session, now)
        busy = session.execute(
            select(_imports.c.started_at, _imports.c.imported_by_name)
            .where(_imports.c.status == DncImportStatus.LOADING)
            .limit(1)
        ).first()
        if busy is not None:
            raise ImportBusy(
                _(
                    "another import of the register is loading (started %(when)s by "
                    "%(who)s); wait for it to finish",
                    when=_hkt_text(busy[0]),
                    who=busy[1] or "?",
                )
            )
        created = DncImport(
            status=DncImportStatus.LOADING,
            filename=audit.clean(filename, 255),
            number_count=0,
            imported_by_name=audit.clean(audit.current_actor().username, 64),
            started_at=now,
        )
        session.add(created)
        session.flush()
        import_id = created.id
    return import_id


def load_import(
    session: Session,
    import_id: int,
    numbers: list[str],
    progress: Progress | None = None,
) -> ImportResult:
    """Load `numbers` (normalised; any order, repeats allowed; sorted here in place) into
    the `loading` copy `import_id`, then make it the active copy and delete the old one."""
    started = time.perf_counter()
    try:
        numbers.sort()  # key order: each batch appends to the end of the primary key
        distinct = _without_repeats(numbers)
        batch_rows = INSERT_BATCH_ROWS.get(dialect_name(session), DEFAULT_INSERT_BATCH_ROWS)
        for offset in range(0, len(distinct), batch_rows):
            batch = distinct[offset : offset + batch_rows]
            with transaction(session, write=True):
                _insert(session, import_id, batch)
                _note_progress(session, import_id, offset + len(batch))
            _let_others_write(session)
            if progress:
                progress(offset + len(batch), len(distinct))
        replaced_id = _activate(session, import_id, len(distinct))
    except BaseException as exc:
        session.rollback()
        _mark_failed(session, import_id, exc)
        raise
    seconds = time.perf_counter() - started
    try:
        delete_unused_copies(session)
        _refresh_statistics(session)
    except Exception:  # the new copy is in use; the next import deletes what is left
        session.rollback()
        log.exception("could not delete the replaced do-not-call copy yet")
    repeats = len(numbers) - len(distinct)
    return ImportResult(import_id, len(distinct), repeats, seconds, replaced_id)


def import_register(
    session: Session, data: bytes, filename: str, progress: Progress | None = None
) -> ImportResult:
    """Check, load and activate a register file in one go (the command line's way)."""
    register = read_register_file(data)
    import_id = start_import(session, filename)
    return load_import(session, import_id, register.numbers, progress)


def _without_repeats(ordered: list[str]) -> list[str]:
    distinct: list[str] = []
    keep = distinct.append
    previous = None
    for phone in ordered:
        if phone != previous:
            keep(phone)
            previous = phone
    return distinct


def _insert(session: Session, import_id: int, batch: list[str]) -> None:
    """The fastest bulk insert each database has. The numbers are 8 ASCII digits (checked
    by read_register_file), so they are safe to write into COPY data and SQL literals."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        raw: Any = connection.connection.dbapi_connection
        prefix = f"{int(import_id)}\t"
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY dnc_numbers (import_id, phone) FROM STDIN") as copy,
        ):
            copy.write(prefix + f"\n{prefix}".join(batch) + "\n")
    elif dialect in ("mysql", "mariadb"):
        for start in range(0, len(batch), MYSQL_STATEMENT_ROWS):
            rows = batch[start : start + MYSQL_STATEMENT_ROWS]
            values = ",".join(f"({int(import_id)},'{phone}')" for phone in rows)
            connection.exec_driver_sql(INSERT_VALUES + values)
    else:
        connection.exec_driver_sql(
            "INSERT INTO dnc_numbers (import_id, phone) VALUES (?, ?)",
            [(import_id, phone) for phone in batch],
        )


def _let_others_write(session: Session) -> None:
    if dialect_name(session) == "sqlite":
        time.sleep(SQLITE_PAUSE_SECONDS)


def _note_progress(session: Session, import_id: int, loaded: int) -> None:
    noted = session.execute(
        update(_imports)
        .where(_imports.c.id == import_id, _imports.c.status == DncImportStatus.LOADING)
        .values(number_count=loaded)
    )
    if noted.rowcount != 1:  # type: ignore[attr-defined]
        raise ImportAbandoned(f"import {import_id} is no longer loading")


def _activate(session: Session, import_id: int, count: int) -> int | None:
    """The one short transaction that swaps the copies; the id of the copy replaced."""
    with transaction(session, write=True):
        if locks_rows(session):  # two imports finishing at once swap one after the other
            session.execute(
                select(_imports.c.id)
                .where(_imports.c.status.in_((DncImportStatus.ACTIVE, DncImportStatus.LOADING)))
                .with_for_update()
            )
        made_active = session.execute(
            update(_imports)
            .where(_imports.c.id == import_id, _imports.c.status == DncImportStatus.LOADING)
            .values(status=DncImportStatus.ACTIVE, number_count=count, imported_at=utcnow())
        )
        if made_active.rowcount != 1:  # type: ignore[attr-defined]
            raise ImportAbandoned(f"import {import_id} is no longer loading")
        old = list(
            session.scalars(
                select(_imports.c.id).where(
                    _imports.c.status == DncImportStatus.ACTIVE, _imports.c.id != import_id
                )
            )
        )
        if old:
            session.execute(
                update(_imports)
                .where(_imports.c.id.in_(old))
                .values(status=DncImportStatus.REPLACED)
            )
        filename = session.scalar(select(_imports.c.filename).where(_imports.c.id == import_id))
        replaced = f"; replaced copy {', '.join(map(str, old))}" if old else ""
        audit.record(
            session,
            "dnc.import",
            f"dnc_import:{import_id}",
            f"{count} numbers from {filename or '(no name)'}{replaced}",
        )
    return old[0] if old else None


def _mark_failed(session: Session, import_id: int, error: BaseException) -> None:
    fail_import(session, import_id, f"{type(error).__name__}: {error}")


def fail_import(session: Session, import_id: int, reason: str) -> None:
    """Mark a `loading` copy failed, saying why, and delete what it loaded. Best effort: the
    failure that brought us here may be the database itself."""
    try:
        with transaction(session, write=True):
            session.execute(
                update(_imports)
                .where(_imports.c.id == import_id, _imports.c.status == DncImportStatus.LOADING)
                .values(status=DncImportStatus.FAILED)
            )
            audit.record(session, "dnc.import_failed", f"dnc_import:{import_id}", reason)
        _delete_rows(session, import_id)
    except Exception:
        session.rollback()
        log.exception("could not clear the failed do-not-call import %s", import_id)


def _fail_abandoned(session: Session, now: datetime) -> None:
    """In the caller's transaction: `loading` copies started over an hour ago are failed."""
    abandoned = list(
        session.scalars(
            select(_imports.c.id).where(
                _imports.c.status == DncImportStatus.LOADING,
                _imports.c.started_at < now - ABANDONED_AFTER,
            )
        )
    )
    if not abandoned:
        return
    session.execute(
        update(_imports).where(_imports.c.id.in_(abandoned)).values(status=DncImportStatus.FAILED)
    )
    for import_id in abandoned:
        audit.record(
            session,
            "dnc.import_failed",
            f"dnc_import:{import_id}",
            "abandoned: still loading an hour after it started (the process ended?)",
        )


def delete_unused_copies(session: Session) -> int:
    """Delete the rows of every replaced or failed copy, in batches; how many were deleted."""
    with transaction(session):
        unused = list(
            session.scalars(
                select(_imports.c.id).where(
                    _imports.c.status.in_((DncImportStatus.REPLACED, DncImportStatus.FAILED))
                )
            )
        )
    return sum(_delete_rows(session, import_id) for import_id in unused)


def _delete_rows(session: Session, import_id: int) -> int:
    """One copy's rows, a batch at a time along the primary key, each its own transaction."""
    deleted, after = 0, ""
    batch_rows = DELETE_BATCH_ROWS.get(dialect_name(session), DEFAULT_DELETE_BATCH_ROWS)
    while True:
        with transaction(session, write=True):
            upper = session.scalar(
                select(_numbers.c.phone)
                .where(_numbers.c.import_id == import_id, _numbers.c.phone > after)
                .order_by(_numbers.c.phone)
                .offset(batch_rows - 1)
                .limit(1)
            )
            batch = [_numbers.c.import_id == import_id, _numbers.c.phone > after]
            if upper is not None:
                batch.append(_numbers.c.phone <= upper)
            result = session.execute(delete(_numbers).where(*batch))
            deleted += result.rowcount or 0  # type: ignore[attr-defined]
        _let_others_write(session)
        if upper is None:
            return deleted
        after = upper


def _refresh_statistics(session: Session) -> None:
    """A copy of millions of rows changes the table's size at once: tell the planner."""
    dialect = dialect_name(session)
    if dialect == "postgresql":
        with transaction(session):
            session.execute(text("ANALYZE dnc_numbers"))
    elif dialect == "sqlite":
        with transaction(session):
            session.execute(text("PRAGMA analysis_limit=1000"))
            session.execute(text("ANALYZE dnc_numbers"))


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DncSummary:
    """The copy in use, as the page shows it."""

    import_id: int
    filename: str
    number_count: int
    imported_by: str
    imported_at: datetime  # aware UTC
    working_days_old: int
    is_stale: bool  # older than STALE_AFTER_WORKING_DAYS working days


@dataclass(frozen=True)
class DncImportState:
    """An import that is not the copy in use: one loading now, or the last one that failed."""

    import_id: int
    status: str
    filename: str
    number_count: int  # loaded so far, for one loading
    imported_by: str
    started_at: datetime
    reason: str = ""  # why it failed, from the audit log


def active_dnc_summary(session: Session, today: date | None = None) -> DncSummary | None:
    """The active copy: when it was imported, its size, and whether it is stale. None when
    no copy was ever imported. Read-only."""
    with transaction(session):
        row = session.execute(
            select(
                _imports.c.id,
                _imports.c.filename,
                _imports.c.number_count,
                _imports.c.imported_by_name,
                _imports.c.imported_at,
                _imports.c.started_at,
            )
            .where(_imports.c.status == DncImportStatus.ACTIVE)
            .order_by(_imports.c.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    imported_at = row.imported_at or row.started_at
    local_day = to_hkt(imported_at).date()  # type: ignore[union-attr]
    today = today or to_hkt(utcnow()).date()  # type: ignore[union-attr]
    age = working_days_after(local_day, today)
    return DncSummary(
        import_id=row.id,
        filename=row.filename,
        number_count=row.number_count,
        imported_by=row.imported_by_name,
        imported_at=imported_at,
        working_days_old=age,
        is_stale=age > STALE_AFTER_WORKING_DAYS,
    )


def import_in_progress(session: Session) -> DncImportState | None:
    with transaction(session):
        found = session.scalars(
            select(DncImport)
            .where(DncImport.status == DncImportStatus.LOADING)
            .order_by(DncImport.id.desc())
            .limit(1)
        ).first()
    return _state(found) if found else None


def last_failed_import(session: Session) -> DncImportState | None:
    """The newest import that failed after the active copy was made (None if none did)."""
    with transaction(session):
        active_id = session.scalar(
            select(_imports.c.id).where(_imports.c.status == DncImportStatus.ACTIVE).limit(1)
        )
        query = select(DncImport).where(DncImport.status == DncImportStatus.FAILED)
        if active_id is not None:
            query = query.where(DncImport.id > active_id)
        found = session.scalars(query.order_by(DncImport.id.desc()).limit(1)).first()
        if found is None:
            return None
        reason = session.scalar(
            select(AuditEvent.detail)
            .where(
                AuditEvent.action == "dnc.import_failed",
                AuditEvent.target == f"dnc_import:{found.id}",
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        return _state(found, reason or "")


def _state(found: DncImport, reason: str = "") -> DncImportState:
    return DncImportState(
        import_id=found.id,
        status=found.status,
        filename=found.filename,
        number_count=found.number_count,
        imported_by=found.imported_by_name,
        started_at=found.started_at,
        reason=reason,
    )


def _hkt_text(moment: datetime | None) -> str:
    local = to_hkt(moment)
    return local.strftime("%Y-%m-%d %H:%M HKT") if local else "?"
