"""The opt-out register (UEMO, Cap. 593, s.9-10): numbers whose owners asked for no more
messages, who put them there, when, from where and why.

`OptOut` holds the register as it is now; `OptOutRecord` keeps every addition and removal
for at least 3 years (the law's record period), so a removal is a new record, never a
delete. Numbers are stored as their 8 digits (services/phone.py); a batch with one bad
entry adds nothing and names every bad one. Each change is audited.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smspanel.hktime import to_hkt
from smspanel.models import OptOut, OptOutRecord, utcnow
from smspanel.services import audit
from smspanel.services.exports import BOM, CsvExport, csv_text, hkt_cell, neutralise
from smspanel.services.pagination import Page, paginate
from smspanel.services.phone import InvalidEntry, normalize_phone, split_numbered
from smspanel.services.recipient_files import UnreadableFile, read_recipient_file, sniff_delimiter
from smspanel.services.text_search import contains_digits
from smspanel.services.transactions import transaction
from smspanel.services.wording import _, ngettext

SOURCES = ("web", "csv", "api")
ADDED, REMOVED = "added", "removed"
MAX_REASON_CHARS = 500  # the column's size
MAX_NUMBERS_AT_ONCE = 100_000
OPT_OUTS_PER_PAGE = 50
EXPORT_PAGE_ROWS = 5_000
EXPORT_COLUMNS = ("phone", "reason", "source", "created_at_hkt", "added_by", "ip_address")
INVALID_NAMED = 20  # bad entries named in the message; the rest are counted
LOOKUP_CHUNK = 1_000  # numbers per IN (...) when looking for those already on the register


class OptOutRefused(ValueError):
    """Nothing changed: the problems by field (`phones`, `file`, `reason`), and for a batch
    every entry that is not a Hong Kong number."""

    def __init__(self, errors: dict[str, list[str]], invalid: Sequence[InvalidEntry] = ()) -> None:
        self.errors = errors
        self.invalid = list(invalid)
        super().__init__("; ".join(m for messages in errors.values() for m in messages))


class NotOnRegister(LookupError):
    """The number is not on the opt-out register, so there is nothing to remove."""


@dataclass(frozen=True)
class AddResult:
    added: list[str] = field(default_factory=list)  # 8 digits each, in the order given
    already: list[str] = field(default_factory=list)  # on the register before this call


@event.listens_for(OptOutRecord, "before_update")
@event.listens_for(OptOutRecord, "before_delete")
def _refuse_changes(mapper: Any, connection: Any, target: Any) -> None:
    raise RuntimeError("opt-out records are kept, never changed or deleted")


# --- adding --------------------------------------------------------------------------------


def add_numbers(
    session: Session, phones: Sequence[str], reason: str = "", source: str = "api"
) -> AddResult:
    """The API's form: a list of numbers; an error names each bad entry by its position."""
    return _add(session, enumerate(phones, start=1), reason, source, "phones", _entry_problem)


def add_lines(session: Session, text: str, reason: str = "", source: str = "web") -> AddResult:
    """The textarea: one number per line; blank lines are skipped but keep their count."""
    lines = ((n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip())
    return _add(session, lines, reason, source, "phones", _line_problem)


def import_file(session: Session, data: bytes, reason: str = "") -> AddResult:
    """A CSV or .xlsx file: its column named phone (or mobile, number, 電話, 手機), or else
    its first column, under an optional header row. Rows are named as a spreadsheet shows."""
    if not data.strip():
        raise OptOutRefused({"file": [_("choose a file of numbers to import")]})
    return _add(session, _file_entries(data), reason, "csv", "file", _row_problem)


def _entry_problem(entry: InvalidEntry) -> str:
    return _("entry %(position)s: “%(value)s” is not a Hong Kong number", **_named(entry))


def _line_problem(entry: InvalidEntry) -> str:
    return _("line %(position)s: “%(value)s” is not a Hong Kong number", **_named(entry))


def _row_problem(entry: InvalidEntry) -> str:
    return _("row %(position)s: “%(value)s” is not a Hong Kong number", **_named(entry))


def _named(entry: InvalidEntry) -> dict[str, Any]:
    return {"position": entry.position, "value": audit.clean(entry.value, 40)}


def _add(
    session: Session,
    entries: Iterable[tuple[int, str]],
    reason: str,
    source: str,
    field_name: str,
    describe: Any,
) -> AddResult:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    errors: dict[str, list[str]] = {}
    reason = reason.strip()
    if len(reason) > MAX_REASON_CHARS:
        errors["reason"] = [_("the reason is at most %(num)s characters", num=MAX_REASON_CHARS)]
    numbers, invalid, _total = split_numbered(entries)
    if invalid:
        named = [describe(e) for e in invalid[:INVALID_NAMED]]
        if len(invalid) > INVALID_NAMED:
            more = len(invalid) - INVALID_NAMED
            named.append(ngettext("and %(num)s more", "and %(num)s more", more))
        summary = ngettext(
            "%(num)s entry is not a Hong Kong number (8 digits, optionally with +852), "
            "so no number was added",
            "%(num)s entries are not Hong Kong numbers (8 digits, optionally with +852), "
            "so no number was added",
            len(invalid),
        )
        errors[field_name] = [summary, *named]
    elif not numbers:
        errors[field_name] = [_("enter at least one number")]
    elif len(numbers) > MAX_NUMBERS_AT_ONCE:
        errors[field_name] = [
            _("at most %(num)s numbers at once; split the list", num=f"{MAX_NUMBERS_AT_ONCE:,}")
        ]
    if errors:
        raise OptOutRefused(errors, invalid)
    phones = list(numbers)
    for attempt in range(3):
        try:
            return _insert(session, phones, reason, source)
        except IntegrityError:
            # Another admin added one of these numbers since we looked: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _insert(session: Session, phones: list[str], reason: str, source: str) -> AddResult:
    actor = audit.current_actor()
    now = utcnow()
    with transaction(session, write=True):
        already = _on_register(session, phones)
        added = [p for p in phones if p not in already]
        if added:
            who: dict[str, Any] = {
                "reason": reason,
                "source": source,
                "ip_address": actor.ip_address,
                "created_at": now,
            }
            name = audit.clean(actor.username, 64)
            session.execute(
                insert(OptOut.__table__),
                [
                    {"phone": p, "created_by_id": actor.user_id, "created_by_name": name, **who}
                    for p in added
                ],
            )
            session.execute(
                insert(OptOutRecord.__table__),
                [
                    {
                        "phone": p,
                        "action": ADDED,
                        "actor_id": actor.user_id,
                        "actor_name": name,
                        **who,
                    }
                    for p in added
                ],
            )
            target = f"phone:{added[0]}" if len(added) == 1 else f"{len(added)} numbers"
            shown = ", ".join(added[:20]) + (", …" if len(added) > 20 else "")
            audit.record(
                session,
                "opt_out.add",
                target,
                f"source {source}; {len(added)} added, {len(already)} already on the register; "
                f"reason: {reason or '(none)'}; numbers: {shown}",
            )
    return AddResult(added, [p for p in phones if p in already])


def _on_register(session: Session, phones: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(phones), LOOKUP_CHUNK):
        chunk = phones[start : start + LOOKUP_CHUNK]
        found.update(session.scalars(select(OptOut.phone).where(OptOut.phone.in_(chunk))))
    return found


def _file_entries(data: bytes) -> list[tuple[int, str]]:
    rows = _headerless_rows(data)
    if rows is not None:
        return rows
    try:
        table = read_recipient_file(data)
    except UnreadableFile as exc:
        raise OptOutRefused({"file": [str(exc)]}) from None
    return [(number, cells[table.phone_column]) for number, cells in table.rows]


def _headerless_rows(data: bytes) -> list[tuple[int, str]] | None:
    """A CSV or text file whose first row is already a number: its first column, every
    row. None for anything else (a header row, an .xlsx), which then needs a phone column."""
    if data.startswith(b"PK") or b"\x00" in data[:8192]:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("big5hkscs")
        except UnicodeDecodeError:
            return None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    rows: list[tuple[int, str]] = []
    try:
        for number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            first = cells[0].strip()
            if not rows and normalize_phone(first) is None:
                return None
            rows.append((number, first))
    except csv.Error:
        return None
    return rows


# --- removing ------------------------------------------------------------------------------


def remove_number(session: Session, phone: str, reason: str, source: str = "web") -> str:
    """Take one number off the register, with the reason (consent given again); its record
    stays. The 8 digits removed."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    errors: dict[str, list[str]] = {}
    number = normalize_phone(phone) if isinstance(phone, str) else None
    if number is None:
        errors["phone"] = [
            _("“%(value)s” is not a Hong Kong number", value=audit.clean(str(phone), 40))
        ]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [
            _("give the reason for removing the number (for example, consent given again)")
        ]
    elif len(reason) > MAX_REASON_CHARS:
        errors["reason"] = [_("the reason is at most %(num)s characters", num=MAX_REASON_CHARS)]
    if errors:
        raise OptOutRefused(errors)
    assert number is not None
    actor = audit.current_actor()
    with transaction(session, write=True):
        removed = session.execute(delete(OptOut.__table__).where(OptOut.phone == number))
        if not removed.rowcount:  # type: ignore[attr-defined]
            raise NotOnRegister(_("%(phone)s is not on the opt-out register", phone=number))
        session.execute(
            insert(OptOutRecord.__table__),
            {
                "phone": number,
                "action": REMOVED,
                "reason": reason,
                "source": source,
                "actor_id": actor.user_id,
                "actor_name": audit.clean(actor.username, 64),
                "ip_address": actor.ip_address,
                "created_at": utcnow(),
            },
        )
        audit.record(session, "opt_out.remove", f"phone:{number}", f"reason: {reason}")
    return number


# --- reading -------------------------------------------------------------------------------


def search_condition(search: str) -> Any:
    """A whole number matches exactly (any accepted form: +852, a space); other digits
    match anywhere in the number; a search without digits matches nothing."""
    number = normalize_phone(search)
    if number is not None:
        return OptOut.phone == number
    digits = re.sub(r"[^0-9]", "", search)
    return contains_digits(OptOut.phone, digits) if digits else OptOut.phone.is_(None)


def list_opt_outs(
    session: Session, search: str = "", page: int = 1, per_page: int = OPT_OUTS_PER_PAGE
) -> Page[OptOut]:
    """The register, newest first, optionally searched by digits."""
    query = select(OptOut).order_by(OptOut.created_at.desc(), OptOut.phone)
    if search.strip():
        query = query.where(search_condition(search.strip()))
    with transaction(session):
        result = paginate(session, query, page, per_page)
    return Page([row[0] for row in result.items], result.total, result.page, result.per_page)


def history(session: Session, phone: str) -> list[OptOutRecord]:
    """Every addition and removal of one number, newest first (empty for an unknown one)."""
    number = normalize_phone(phone)
    if number is None:
        return []
    with transaction(session):
        return list(
            session.scalars(
                select(OptOutRecord)
                .where(OptOutRecord.phone == number)
                .order_by(OptOutRecord.created_at.desc(), OptOutRecord.id.desc())
            )
        )


# --- export --------------------------------------------------------------------------------


def export_opt_outs(session: Session, page_rows: int = EXPORT_PAGE_ROWS) -> CsvExport:
    """The whole register as CSV for Excel (exports.py's rules: BOM, HKT, no formulas),
    streamed in pages by number; the export is audited now."""
    with transaction(session, write=True):
        count = session.scalar(select(func.count()).select_from(OptOut.__table__))
        audit.record(session, "export.opt_outs", "opt-out register", f"{count} number(s)")
    day = to_hkt(utcnow()).date().isoformat()  # type: ignore[union-attr]
    return CsvExport(f"opt-outs-{day}.csv", _export_chunks(session, page_rows))


EXPORT_CELLS = (
    OptOut.phone,
    OptOut.reason,
    OptOut.source,
    OptOut.created_at,
    OptOut.created_by_name,
    OptOut.ip_address,
)


def _export_chunks(session: Session, page_rows: int) -> Iterator[str]:
    yield BOM + csv_text([EXPORT_COLUMNS])
    after = ""
    while True:
        with transaction(session):
            page = list(
                session.connection().execute(
                    select(*EXPORT_CELLS)
                    .where(OptOut.phone > after)
                    .order_by(OptOut.phone)
                    .limit(page_rows)
                )
            )
        if not page:
            return
        yield csv_text(
            (phone, neutralise(reason), source, hkt_cell(created), neutralise(name), ip or "")
            for phone, reason, source, created, name, ip in page
        )
        after = page[-1][0]
