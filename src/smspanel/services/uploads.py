"""Sends from a file of recipients: upload, check, send, and an upload's day of life.

An upload keeps the file's rows, parsed (`recipient_files`), in the database as
zlib-compressed JSON, never the file itself, so every serving process and host sees it; it
belongs to the user who uploaded it and expires after `UPLOAD_LIFETIME` (expired ones are
purged at each new upload, and by `flask purge-uploads`). The check is
`personalisation.check_rows` over the rows, with the file's own problems first (a
placeholder no column provides is one problem, not one per row). Sending deletes the upload
in the same transaction that queues the message, so a second submit finds nothing to send.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import secrets
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from smspanel.hktime import format_hkt, hkt_day_bounds_utc, to_hkt
from smspanel.models import Message, MessageStatus, Priority, Template, Upload
from smspanel.services.compose import ENQUIRY_PREFIX, InvalidEnquiryNumber, enquiry_number
from smspanel.services.content import InvalidContent
from smspanel.services.eligibility import (
    Eligibility,
    NoDeliverableRecipients,
    SendPolicy,
    check_numbers_both_ways,
)
from smspanel.services.personalisation import (
    MAX_PROBLEMS_KEPT,
    PersonalisedRow,
    RepeatedNumber,
    RowProblem,
    check_rows,
)
from smspanel.services.placeholders import name_key, placeholders
from smspanel.services.quotas import QuotaExceeded
from smspanel.services.recipient_files import UnreadableFile, read_recipient_file
from smspanel.services.scheduling import InvalidSchedule, parse_scheduled_at
from smspanel.services.sending import (
    DEFAULT_POLICY,
    AcceptedSend,
    accept_personalised_send,
    commercial_row,
)
from smspanel.services.templates import find_template
from smspanel.services.transactions import transaction
from smspanel.services.wording import _

UPLOAD_LIFETIME = timedelta(days=1)
PREVIEW_ROWS = 3
# Before the enquiry number is typed, texts are checked and counted with a stand-in of the
# same length, so lengths and segments are already right.
PLACEHOLDER_SUFFIX = ENQUIRY_PREFIX + "XXXXXXXX"
# A spreadsheet's error values: a failed lookup must not become "Dear #N/A".
SPREADSHEET_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
     "#SPILL!", "#CALC!"}
)  # fmt: skip


class UploadRefused(ValueError):
    """The upload form's problems, by field (`file`, `template_id`); nothing was stored."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(m for messages in errors.values() for m in messages))


class UploadGone(LookupError):
    """The upload was sent already, has expired, or is not this user's."""


@dataclass(frozen=True)
class SendFigures:
    """What a send of the checked rows would be now: the recipients that get an SMS (not
    the skipped numbers) and their segments, each text as it will be sent."""

    recipients: int = 0
    segments: int = 0


@dataclass(frozen=True)
class PreviewRow:
    """A row of the preview, as a plain send and as a commercial one (`commercial` is None
    when the unsubscribe statement makes the text too long: that row is not sent)."""

    plain: PersonalisedRow
    commercial: PersonalisedRow | None
    skip_reason: str | None = None
    commercial_skip_reason: str | None = None

    @property
    def statement_added(self) -> str:
        """What a commercial send appends to this row's text ("" if it has the statement)."""
        if self.commercial is None:
            return ""
        return self.commercial.text.removeprefix(self.plain.text)


@dataclass
class UploadCheck:
    """What the check page shows, and what a send queues (`rows`)."""

    upload_id: str
    filename: str
    file_format: str
    row_count: int
    template: Template
    columns: list[str]
    phone_column: str
    sheet: str = ""
    other_sheets: int = 0
    file_problems: list[str] = field(default_factory=list)  # nothing can be sent
    problems: list[RowProblem] = field(default_factory=list)  # the first MAX_PROBLEMS_KEPT
    problem_count: int = 0
    rows_with_problems: int = 0
    rows: list[PersonalisedRow] = field(default_factory=list)
    repeated: list[RepeatedNumber] = field(default_factory=list)
    earlier_send: Message | None = None  # this template and file, already sent today
    # What the numbers check would skip now, as a plain send and as a commercial one.
    numbers: Eligibility | None = None
    numbers_if_commercial: Eligibility | None = None
    # With the numbers check: what the send would be, plain and commercial, and the preview.
    to_send: SendFigures | None = None
    to_send_if_commercial: SendFigures | None = None
    preview: list[PreviewRow] = field(default_factory=list)

    @property
    def read_as_big5(self) -> bool:
        return self.file_format == "big5"


class SendRefused(ValueError):
    """The check form's problems, by field; `check` is what the page shows again."""

    def __init__(self, errors: dict[str, list[str]], check: UploadCheck) -> None:
        self.errors = errors
        self.check = check
        super().__init__("; ".join(m for messages in errors.values() for m in messages))


def store_upload(
    session: Session,
    user_id: int,
    template_id: int | None,
    filename: str,
    data: bytes,
    max_bytes: int,
    now: datetime,
) -> str:
    """Read the file and keep its rows for a day; the new upload's id. Raises UploadRefused
    naming every problem of the file and the template; then nothing is stored."""
    errors: dict[str, list[str]] = {}
    if template_id is None:
        errors["template_id"] = [_("choose a template")]
    elif find_template(session, template_id) is None:
        errors["template_id"] = [
            _("there is no template %(id)s; choose one from the list", id=template_id)
        ]
    parsed = None
    if not filename and not data:
        errors["file"] = [_("choose a file of recipients (CSV or .xlsx)")]
    elif len(data) > max_bytes:
        errors["file"] = [too_large_message(len(data), max_bytes)]
    else:
        try:
            parsed = read_recipient_file(data)
        except UnreadableFile as exc:
            errors["file"] = [str(exc)]
    if errors or parsed is None or template_id is None:
        raise UploadRefused(errors)
    upload_id = secrets.token_hex(16)
    packed = {
        "columns": parsed.columns,
        "phone_column": parsed.phone_column,
        "sheet": parsed.sheet,
        "other_sheets": parsed.other_sheets,
        # By column, not by row: a 100,000-row file decodes several times faster.
        "row_numbers": [number for number, _ in parsed.rows],
        "values_by_column": [
            [cells[i] for _, cells in parsed.rows] for i in range(len(parsed.columns))
        ],
    }
    upload = Upload(
        id=upload_id,
        user_id=user_id,
        template_id=template_id,
        filename=display_filename(filename),
        file_format=parsed.file_format,
        digest=hashlib.sha256(data).hexdigest(),
        row_count=len(parsed.rows),
        rows=zlib.compress(
            json.dumps(packed, ensure_ascii=False, separators=(",", ":")).encode(), 6
        ),
        created_at=now,
        expires_at=now + UPLOAD_LIFETIME,
    )
    with transaction(session):
        purge_expired_uploads(session, now)
        session.add(upload)
    return upload_id


def too_large_message(size: int | None, max_bytes: int) -> str:
    if size:
        return _(
            "the file is larger than %(max)s (%(size)s); split it into smaller files, "
            "or remove columns the template does not use",
            max=file_size(max_bytes),
            size=file_size(size),
        )
    return _(
        "the file is larger than %(max)s; split it into smaller files, "
        "or remove columns the template does not use",
        max=file_size(max_bytes),
    )


def file_size(size: int) -> str:
    """20 MB, 1.5 MB, 100 KB."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    return f"{size / 1024:.0f} KB"


def display_filename(filename: str) -> str:
    """The name as the user knows it: no folders (old browsers send them), no controls."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255]


def purge_expired_uploads(session: Session, now: datetime) -> int:
    """Delete every upload past its day; how many were deleted."""
    with transaction(session):
        result = session.execute(delete(Upload).where(Upload.expires_at <= now))
    return result.rowcount or 0  # type: ignore[attr-defined]


def find_upload(session: Session, upload_id: str, user_id: int, now: datetime) -> Upload | None:
    """The user's upload while it lives; None if missing, expired or someone else's."""
    if len(upload_id) != 32 or not all(ch in "0123456789abcdef" for ch in upload_id):
        return None
    upload = session.get(Upload, upload_id)
    if upload is None or upload.user_id != user_id or upload.expires_at <= now:
        return None
    return upload


def check_upload(
    session: Session,
    upload: Upload,
    now: datetime,
    suffix: str = PLACEHOLDER_SUFFIX,
    *,
    statement: str = "",
    policy: SendPolicy | None = None,
) -> UploadCheck:
    """Every problem by row and column, the texts each row would get (with `suffix`
    appended, and the unsubscribe `statement` for a commercial send) and an earlier send
    of the same template and file today. With a `policy`, also which numbers a send would
    skip and why (`eligibility.py`)."""
    template = upload_template(session, upload)
    packed = json.loads(zlib.decompress(upload.rows))
    columns: list[str] = packed["columns"]
    phone_index: int = packed["phone_column"]
    check = UploadCheck(
        upload_id=upload.id,
        filename=upload.filename,
        file_format=upload.file_format,
        row_count=upload.row_count,
        template=template,
        columns=columns,
        phone_column=columns[phone_index],
        sheet=packed.get("sheet", ""),
        other_sheets=packed.get("other_sheets", 0),
        earlier_send=earlier_send_today(session, template.id, upload.digest, now),
    )
    index_by_key: dict[str, int] = {}
    for index, name in enumerate(columns):
        if name:
            index_by_key.setdefault(name_key(name), index)
    used: list[tuple[str, int]] = []
    for placeholder in placeholders(template.content):
        index = index_by_key.get(name_key(placeholder), -1)
        if index < 0:
            found = ", ".join(repr(c) for c in columns if c)
            check.file_problems.append(
                _(
                    "the template's ((%(placeholder)s)) has no column in the file: add a column "
                    "named %(name)s (columns found: %(found)s)",
                    placeholder=placeholder,
                    name=repr(placeholder),
                    found=found,
                )
            )
        used.append((placeholder, index))
    if check.file_problems:
        if policy is not None:
            preview_numbers(session, check, policy)
        return check

    row_numbers: list[int] = packed["row_numbers"]
    by_column: list[list[str]] = packed["values_by_column"]
    watched = [(columns[phone_index], phone_index)] + [(columns[i], i) for _, i in used]
    refused: dict[int, RowProblem] = {}  # by position: rows with a spreadsheet error
    spreadsheet_error = _("the cell holds the spreadsheet error %(value)s")
    for header, index in watched:
        if SPREADSHEET_ERRORS.isdisjoint(by_column[index]):
            continue
        for position, value in enumerate(by_column[index]):
            if value in SPREADSHEET_ERRORS and position not in refused:
                refused[position] = RowProblem(
                    row_numbers[position],
                    header,
                    "spreadsheet_error",
                    spreadsheet_error % {"value": value},
                    value,
                )
    early_problems = [refused[position] for position in sorted(refused)]
    names = [name for name, _ in used]

    def checkable_rows() -> Iterator[tuple[int, str, dict[str, str]]]:
        rows = zip(
            row_numbers, by_column[phone_index], *(by_column[i] for _, i in used), strict=True
        )
        for position, (number, phone, *values) in enumerate(rows):
            if position not in refused:
                yield number, phone, dict(zip(names, values, strict=True))

    result = check_rows(
        template.content,
        checkable_rows(),
        phone_column=columns[phone_index],
        suffix=suffix,
        statement=statement,
    )
    header_of = {name_key(p): columns[i] for p, i in used}
    row_problems = [
        replace(p, column=header_of.get(name_key(p.column), p.column))
        if p.kind == "missing_value"
        else p
        for p in result.problems
    ]
    merged = heapq.merge(early_problems, row_problems, key=lambda p: p.row)
    check.problems = list(itertools.islice(merged, MAX_PROBLEMS_KEPT))
    check.problem_count = len(early_problems) + result.problem_count
    check.rows_with_problems = len(early_problems) + result.rows_with_problems
    check.rows = result.rows
    check.repeated = result.repeated
    if policy is not None:
        preview_numbers(session, check, policy)
    return check


def preview_numbers(
    session: Session,
    check: UploadCheck,
    policy: SendPolicy,
    plain_rows: list[PersonalisedRow] | None = None,
) -> None:
    """Which of the rows' numbers a send would skip now, plain and commercial, and what
    each send would then be (`plain_rows`: the texts without the statement, when the
    check's rows carry it)."""
    plain_rows = check.rows if plain_rows is None else plain_rows  # their numbers include check's
    plain, commercial = check_numbers_both_ways(session, [row.phone for row in plain_rows], policy)
    check.numbers, check.numbers_if_commercial = plain, commercial
    statement = policy.unsubscribe_text
    check.to_send = send_figures(plain_rows, plain.reason_of)
    check.to_send_if_commercial = send_figures(check.rows, commercial.reason_of, statement)
    check.preview = [
        PreviewRow(
            plain=row,
            commercial=as_commercial(row, statement),
            skip_reason=plain.reason_of.get(row.phone),
            commercial_skip_reason=commercial.reason_of.get(row.phone),
        )
        for row in check.rows[:PREVIEW_ROWS]
    ]


def as_commercial(row: PersonalisedRow, statement: str) -> PersonalisedRow | None:
    """The row as a commercial send sends it; None when the statement makes it too long
    (the send refuses that row)."""
    try:
        return commercial_row(row, statement)
    except InvalidContent:
        return None


def send_figures(
    rows: list[PersonalisedRow], skipped: Mapping[str, str], statement: str = ""
) -> SendFigures:
    """The rows a send would give an SMS, not the `skipped` numbers', and their segments,
    with the unsubscribe `statement` for a commercial send."""
    recipients = segments = 0
    for row in rows:
        if row.phone in skipped:
            continue
        sent = as_commercial(row, statement) if statement else row
        if sent is not None:
            recipients += 1
            segments += sent.segments
    return SendFigures(recipients, segments)


def upload_template(session: Session, upload: Upload) -> Template:
    template = find_template(session, upload.template_id) if upload.template_id else None
    if template is None:  # deleting a template deletes its uploads: only in a race
        raise UploadGone(_("the template of this upload was deleted"))
    return template


def earlier_send_today(
    session: Session, template_id: int, digest: str, now: datetime
) -> Message | None:
    """The latest message today (HKT) from this template and a file of the same content,
    by anyone: two people sending the same file is the costly mistake. A send cancelled
    or rejected before anything went out does not count."""
    local = to_hkt(now)
    assert local is not None
    start, end = hkt_day_bounds_utc(local.date())
    return session.scalar(
        select(Message)
        .where(
            Message.template_id == template_id,
            Message.source_digest == digest,
            Message.created_at >= start,
            Message.created_at < end,
            ~(
                Message.status.in_((MessageStatus.CANCELLED, MessageStatus.REJECTED))
                & (Message.sent_count == 0)
            ),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )


def send_upload(
    session: Session,
    upload: Upload,
    user_id: int,
    *,
    enquiry: str,
    scheduled_at: str,
    confirm_duplicate: bool,
    now: datetime,
    commercial: bool = False,
    priority: str = Priority.NORMAL,
    policy: SendPolicy = DEFAULT_POLICY,
) -> AcceptedSend:
    """Queue the rows without problems, with the enquiry suffix (and for a commercial send
    the unsubscribe statement), now or at `scheduled_at`; the numbers check skips what it
    must.

    Raises SendRefused naming every problem (the check, done again with the real suffix,
    comes with it), or UploadGone when another submit sent it first.
    """
    errors: dict[str, list[str]] = {}
    suffix = PLACEHOLDER_SUFFIX
    try:
        suffix = ENQUIRY_PREFIX + enquiry_number(enquiry)
    except InvalidEnquiryNumber as exc:
        errors["enquiry_number"] = [str(exc)]
    when = None
    try:
        when = parse_scheduled_at(scheduled_at, now)
    except InvalidSchedule as exc:
        errors["scheduled_at"] = [str(exc)]
    upload_id, digest = upload.id, upload.digest
    statement = policy.unsubscribe_text if commercial else ""
    check = check_upload(session, upload, now, suffix, statement=statement)

    def refused(errors: dict[str, list[str]]) -> SendRefused:
        """The page again, with the figures of both kinds of send: the rows of a commercial
        check carry the statement, so a plain send's are counted on a plain check's."""
        plain_rows = check_upload(session, upload, now, suffix).rows if statement else None
        preview_numbers(session, check, policy, plain_rows)
        return SendRefused(errors, check)

    if check.file_problems:
        errors["file"] = list(check.file_problems)
    elif not check.rows:
        errors["file"] = [
            _(
                "none of the %(count)s rows can be sent: correct the problems in the "
                "file and upload it again",
                count=check.row_count,
            )
        ]
    if check.earlier_send is not None and not confirm_duplicate:
        earlier = check.earlier_send
        errors["confirm_duplicate"] = [
            _(
                "this template was already sent with the same file today (message #%(id)s "
                "at %(when)s): tick the box to send it again",
                id=earlier.id,
                when=format_hkt(earlier.created_at),
            )
        ]
    if errors:
        raise refused(errors)
    try:
        with transaction(session, write=True):
            # First, so that of two submits at once the second waits here, then finds nothing.
            gone = session.execute(
                delete(Upload).where(
                    Upload.id == upload_id, Upload.user_id == user_id, Upload.expires_at > now
                )
            )
            if gone.rowcount != 1:  # type: ignore[attr-defined]
                raise UploadGone(_("this upload was already sent or has expired"))
            return accept_personalised_send(
                session,
                user_id,
                check.template.id,
                check.template.content,
                check.rows,
                scheduled_at=when,
                source_digest=digest,
                commercial=commercial,
                priority=priority,
                policy=policy,
            )
    except NoDeliverableRecipients as exc:  # rolled back: the upload is still there
        raise refused({"file": [str(exc)]}) from None
    except QuotaExceeded as exc:  # rolled back too
        raise refused({"quota": [str(exc)]}) from None
