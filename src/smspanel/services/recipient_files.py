"""Reading a file of recipients, defensively: CSV (UTF-8, or Big5 where UTF-8 fails) or .xlsx.

The kind of file is told by its content, not its name: an .xlsx is a zip holding an Excel
workbook; anything else with a binary signature (an old .xls, a PDF, an image, a zip of
something else) is refused; the rest is read as CSV text. Every limit fails fast, before the
work it bounds: the zip's declared sizes are checked before openpyxl opens it (Python's
zipfile never unpacks a member past its declared size), a CSV line or cell over its cap
stops the reader there, and reading stops at the first row over `MAX_ROWS`.

The first row that is not blank is the header; rows keep the numbers a spreadsheet shows
(the header is row 1 when nothing is above it), and blank rows are skipped. Formula cells in
an .xlsx are read as the value saved with them, never evaluated; a formula saved without a
value (files written by programs, never by Excel) refuses the file, naming its cells.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from xml.etree.ElementTree import iterparse

from smspanel.services.placeholders import name_key
from smspanel.services.wording import _, lazy_gettext

PHONE_COLUMN_NAMES = ("phone", "mobile", "number", "電話", "手機")
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
MAX_LINE_CHARS = 65_536  # one line of a CSV file
XLSX_MAX_UNPACKED_BYTES = 256 * 1024 * 1024
XLSX_MAX_RATIO = 100  # unpacked / packed, for members over XLSX_RATIO_FROM_BYTES
XLSX_RATIO_FROM_BYTES = 1024 * 1024
XLSX_MAX_MEMBERS = 10_000
FORMULA_CELLS_NAMED = 5

UTF8_BOM = b"\xef\xbb\xbf"
DELIMITERS = (",", ";", "\t")
_PHONE_KEYS = {name_key(name): rank for rank, name in enumerate(PHONE_COLUMN_NAMES)}
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")
_QUOTED = re.compile(r'"[^"]*"')

# Signatures of files people pick by mistake, and what to say about each.
_NOT_A_SPREADSHEET = (
    (b"\xd0\xcf\x11\xe0", lazy_gettext("an old Excel .xls file or a password-protected workbook")),
    (b"%PDF", lazy_gettext("a PDF document")),
    (b"\x89PNG", lazy_gettext("a PNG image")),
    (b"\xff\xd8\xff", lazy_gettext("a JPEG image")),
    (b"GIF8", lazy_gettext("a GIF image")),
    (b"{\\rtf", lazy_gettext("an RTF document")),
    (b"\x1f\x8b", lazy_gettext("a gzip archive")),
    (b"Rar!", lazy_gettext("a RAR archive")),
    (b"7z\xbc\xaf", lazy_gettext("a 7-Zip archive")),
)
SAVE_AS = lazy_gettext("save it as CSV UTF-8 or as an Excel workbook (.xlsx) and upload that")


class UnreadableFile(ValueError):
    """The file cannot be used as it is; the message says why and what to do."""


@dataclass(frozen=True)
class RecipientFile:
    file_format: str  # utf-8, big5 or xlsx
    columns: list[str]  # the header as written ("" for a column without a name)
    phone_column: int  # the index of the column of numbers
    rows: list[tuple[int, list[str]]]  # (row number as a spreadsheet shows it, one text a column)
    sheet: str = ""  # xlsx: the sheet read (the first)
    other_sheets: int = 0  # xlsx: sheets after the first, not read


def read_recipient_file(data: bytes) -> RecipientFile:
    """The header and rows of a CSV or .xlsx file; raise UnreadableFile naming the problem."""
    if not data.strip():
        raise UnreadableFile(_("the file is empty"))
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    head = data[:8192]
    for signature, kind in _NOT_A_SPREADSHEET:
        if head.startswith(signature):
            raise UnreadableFile(
                _(
                    "not a CSV or .xlsx file: it looks like %(kind)s; %(advice)s",
                    kind=kind,
                    advice=SAVE_AS,
                )
            )
    if head.startswith(b"PK"):
        raise UnreadableFile(
            _("not a CSV or .xlsx file: it is a zip archive; %(advice)s", advice=SAVE_AS)
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(
            _("the file is UTF-16 text (Excel's 'Unicode Text'); %(advice)s", advice=SAVE_AS)
        )
    if b"\x00" in head:
        raise UnreadableFile(
            _("not a CSV or .xlsx file: it is not text; %(advice)s", advice=SAVE_AS)
        )
    text, file_format = _decode(data)
    return _read_csv(text, file_format)


# --- CSV -----------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 with or without BOM; else Big5 (as Hong Kong's superset, Big5-HKSCS)."""
    if data.startswith(UTF8_BOM):
        try:
            return data[len(UTF8_BOM) :].decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                _(
                    "the file starts as UTF-8 but byte %(position)s is not UTF-8; %(advice)s",
                    position=exc.start + len(UTF8_BOM) + 1,
                    advice=SAVE_AS,
                )
            ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("big5hkscs"), "big5"
    except UnicodeDecodeError:
        raise UnreadableFile(
            _(
                "the file is neither UTF-8 nor Big5 text (or it is not a CSV file); %(advice)s",
                advice=SAVE_AS,
            )
        ) from None


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: whichever the header line has most of, outside quotes.

    Header names rarely hold any of them, so the header tells; a one-column file (or a tie)
    is read with commas.
    """
    for line in io.StringIO(text):
        if line.strip():
            unquoted = _QUOTED.sub("", line[:MAX_LINE_CHARS])
            counts = {d: unquoted.count(d) for d in DELIMITERS}
            best = max(DELIMITERS, key=lambda d: counts[d])
            return best if counts[best] > 0 else ","
    return ","


def _checked_lines(text: str) -> Iterator[str]:
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise UnreadableFile(
                _(
                    "line %(line)s of the file is longer than %(max)s characters; "
                    "is this really a file of recipients?",
                    line=number,
                    max=f"{MAX_LINE_CHARS:,}",
                )
            )
        yield line


@contextlib.contextmanager
def _cell_size_limit(limit: int) -> Iterator[None]:
    """csv's cell cap is process-wide: lowered for this read only, then put back."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _read_csv(text: str, file_format: str) -> RecipientFile:
    reader = csv.reader(_checked_lines(text), delimiter=sniff_delimiter(text))
    last_row = 0  # csv counts physical lines; people count rows

    def numbered() -> Iterator[tuple[int, list[str]]]:
        nonlocal last_row
        for number, cells in enumerate(reader, start=1):
            last_row = number
            yield number, cells

    with _cell_size_limit(MAX_CELL_CHARS):
        try:
            return _table(numbered(), file_format)
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise UnreadableFile(
                    _(
                        "row %(row)s: a cell is longer than %(max)s characters "
                        "(Excel's own limit for a cell); is this really a file of recipients?",
                        row=last_row + 1,
                        max=f"{MAX_CELL_CHARS:,}",
                    )
                ) from None
            raise UnreadableFile(
                _(
                    "the CSV file cannot be read at row %(row)s: %(problem)s",
                    row=last_row + 1,
                    problem=exc,
                )
            ) from None


def _table(
    numbered_rows: Iterable[tuple[int, list[str]]],
    file_format: str,
    width_known: bool = False,
    **sheet: object,
) -> RecipientFile:
    """Header, phone column and rows from (row number, cells as text) pairs."""
    columns: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, raw in numbered_rows:
        cells = [cell.strip() for cell in raw]
        if not any(cells):
            continue
        if columns is None:
            while cells and not cells[-1]:
                cells.pop()
            if len(cells) > MAX_COLUMNS and not width_known:
                raise UnreadableFile(
                    _(
                        "the header row has %(count)s columns; at most %(max)s",
                        count=len(cells),
                        max=MAX_COLUMNS,
                    )
                )
            columns = cells
            continue
        if len(rows) == MAX_ROWS:
            raise UnreadableFile(
                _(
                    "the file has more than %(max)s rows of recipients; split it into "
                    "smaller files and send each",
                    max=f"{MAX_ROWS:,}",
                )
            )
        width = len(columns)
        if len(cells) < width:
            cells.extend([""] * (width - len(cells)))
        elif len(cells) > width:
            del cells[width:]
        rows.append((number, cells))
    if columns is None:
        raise UnreadableFile(_("the file is empty: it has no header row and no rows"))
    phone_column = find_phone_column(columns)
    if not rows:
        raise UnreadableFile(_("the file has a header row but no rows of recipients under it"))
    return RecipientFile(file_format, columns, phone_column, rows, **sheet)  # type: ignore[arg-type]


def find_phone_column(columns: list[str]) -> int:
    """The column named phone (or mobile, number, 電話, 手機, in that order of preference)."""
    ranked = [
        (_PHONE_KEYS[name_key(name)], index)
        for index, name in enumerate(columns)
        if name_key(name) in _PHONE_KEYS
    ]
    if not ranked:
        found = ", ".join(repr(c) for c in columns if c) or _("none")
        raise UnreadableFile(
            _(
                "the file has no phone column: name the column of numbers %(names)s or "
                "%(last)s in the header row (columns found: %(found)s)",
                names=", ".join(repr(n) for n in PHONE_COLUMN_NAMES[:-1]),
                last=repr(PHONE_COLUMN_NAMES[-1]),
                found=found,
            )
        )
    return min(ranked)[1]


# --- xlsx ----------------------------------------------------------------------------------


def _read_xlsx(data: bytes) -> RecipientFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UnreadableFile(
            _("the .xlsx file is damaged (not a readable zip); %(advice)s", advice=SAVE_AS)
        ) from None
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names:
        raise UnreadableFile(
            _(
                "not a CSV or .xlsx file: it is a zip but not an Excel workbook; %(advice)s",
                advice=SAVE_AS,
            )
        )
    _check_unpacked_sizes(members)
    try:
        return _read_workbook(archive, data)
    except UnreadableFile:
        raise
    except Exception as exc:  # openpyxl's errors on malformed input are of many kinds
        raise UnreadableFile(
            _(
                "the .xlsx file cannot be read (%(error)s); open it in Excel and save "
                "it again, or save it as CSV UTF-8",
                error=type(exc).__name__,
            )
        ) from exc


def _check_unpacked_sizes(members: list[zipfile.ZipInfo]) -> None:
    """A zip bomb fails here, before anything is unpacked."""
    if len(members) > XLSX_MAX_MEMBERS:
        raise UnreadableFile(
            _(
                "the .xlsx file holds %(count)s parts; this is not a normal workbook",
                count=f"{len(members):,}",
            )
        )
    if any(m.flag_bits & 0x1 for m in members):
        raise UnreadableFile(_("the .xlsx file is encrypted; save it without a password"))
    total = sum(m.file_size for m in members)
    if total > XLSX_MAX_UNPACKED_BYTES:
        raise UnreadableFile(
            _(
                "the .xlsx file unpacks to %(size)s MB; at most %(max)s MB (is it a zip bomb?)",
                size=f"{total // (1024 * 1024):,}",
                max=XLSX_MAX_UNPACKED_BYTES // (1024 * 1024),
            )
        )
    for member in members:
        if member.file_size > XLSX_RATIO_FROM_BYTES and member.file_size > XLSX_MAX_RATIO * max(
            member.compress_size, 1
        ):
            ratio = member.file_size // max(member.compress_size, 1)
            raise UnreadableFile(
                _(
                    "the .xlsx file's part %(part)s unpacks %(ratio)s times larger than "
                    "it is packed; at most %(max)s (is it a zip bomb?)",
                    part=member.filename,
                    ratio=f"{ratio:,}",
                    max=XLSX_MAX_RATIO,
                )
            )


def _read_workbook(archive: zipfile.ZipFile, data: bytes) -> RecipientFile:
    import openpyxl  # only for workbooks: most uploads are CSV

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise UnreadableFile(_("the workbook has no worksheet"))
        sheet = sheets[0]
        # A sheet's declared size may be wrong (a stray format far away): read what is there.
        sheet.reset_dimensions()
        header_number, header = _xlsx_header(sheet)
        width = len(header)
        rows = sheet.iter_rows(min_row=header_number + 1, max_col=width, values_only=True)
        numbered = (
            (number, [cell_text(v) for v in values])
            for number, values in enumerate(rows, start=header_number + 1)
        )
        table = _table(
            _with_header(header_number, header, numbered),
            "xlsx",
            width_known=True,
            sheet=sheet.title,
            other_sheets=len(sheets) - 1,
        )
    finally:
        workbook.close()
    path = getattr(sheet, "_worksheet_path", None)  # openpyxl 3.1 keeps it here
    if path:
        _refuse_formulas_without_values(archive, path, table)
    return table


def _xlsx_header(sheet: object) -> tuple[int, list[str]]:
    """The first row that is not blank, up to its last named column."""
    rows = sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS + 1, values_only=True)  # type: ignore[attr-defined]
    for number, values in enumerate(rows, start=1):
        cells = [cell_text(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if len(cells) > MAX_COLUMNS:
            raise UnreadableFile(_("the header row has more than %(max)s columns", max=MAX_COLUMNS))
        rows.close()
        return number, cells
    raise UnreadableFile(_("the file is empty: it has no header row and no rows"))


def _with_header(
    number: int, header: list[str], rows: Iterable[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    yield number, header
    yield from rows


def cell_text(value: object) -> str:
    """A cell's value as the text a person sees in it (dates as YYYY-MM-DD)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _refuse_formulas_without_values(
    archive: zipfile.ZipFile, path: str, table: RecipientFile
) -> None:
    """A formula saved without its result reads as an empty cell; say so instead.

    Excel and LibreOffice always save the result; programs that write workbooks may not.
    Only looked for when the sheet has formulas at all.
    """
    member = path.lstrip("/")
    if not _has_formulas(archive, member):
        return
    width = len(table.columns)
    found: list[str] = []
    count = 0
    with archive.open(member) as source:
        for _event, element in iterparse(source):
            if element.tag.rpartition("}")[2] != "c":
                continue
            formula = value = None
            for child in element:
                local = child.tag.rpartition("}")[2]
                if local == "f":
                    formula = child
                elif local == "v":
                    value = child
            saved = value is not None and (value.text or element.get("t") == "str")
            if formula is not None and not saved:
                column, row = _cell_reference(element.get("r", ""))
                if column and column <= width:
                    count += 1
                    if len(found) < FORMULA_CELLS_NAMED:
                        found.append(
                            _(
                                "row %(row)s, column %(column)s",
                                row=row,
                                column=table.columns[column - 1] or column,
                            )
                        )
            element.clear()
    if count:
        more = _(" and %(count)s more", count=count - len(found)) if count > len(found) else ""
        raise UnreadableFile(
            _(
                "the file has formulas whose results were never saved (%(cells)s%(more)s), "
                "so their values are unknown: open it in Excel or LibreOffice and save it again, "
                "or paste the values in place of the formulas",
                cells="; ".join(found),
                more=more,
            )
        )


def _has_formulas(archive: zipfile.ZipFile, member: str, chunk: int = 1 << 20) -> bool:
    tail = b""
    with archive.open(member) as source:
        while block := source.read(chunk):
            if _FORMULA_TAG.search(tail + block):
                return True
            tail = block[-16:]
    return False


def _cell_reference(reference: str) -> tuple[int, int]:
    """`C12` → (3, 12); (0, 0) when unreadable."""
    match = re.fullmatch(r"([A-Z]{1,3})([0-9]+)", reference)
    if match is None:
        return 0, 0
    column = 0
    for letter in match.group(1):
        column = column * 26 + ord(letter) - ord("A") + 1
    return column, int(match.group(2))
