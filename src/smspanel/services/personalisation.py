"""Checking a personalised send row by row: the one rule the API and file uploads share.

Each row is a number and its values. A row is refused for a number that is not a Hong Kong
number, a placeholder with no value (missing or blank), or a text that renders too long or
with a character an SMS cannot carry. Values for names the template does not use are
ignored. A number repeated in the rows keeps its first row; the later ones are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from smspanel.services.commercial import with_statement
from smspanel.services.content import (
    MAX_CONTENT_LENGTH,
    InvalidContent,
    count_segments,
    validate_content,
)
from smspanel.services.phone import normalize_phone
from smspanel.services.placeholders import personalisation_by_key, placeholders, render
from smspanel.services.wording import _

MAX_PROBLEMS_KEPT = 1000  # beyond this, only counted: a 100,000-row mistake is one mistake


@dataclass(frozen=True)
class RowProblem:
    row: int  # as the sender counts: the file's row number, or the list position + 1
    column: str  # the column or field at fault
    kind: str  # invalid_phone, missing_value, too_long, invalid_text
    message: str
    value: str = ""


@dataclass(frozen=True)
class PersonalisedRow:
    row: int
    phone: str  # the 8 digits
    text: str  # exactly what this number is sent
    segments: int


@dataclass(frozen=True)
class RepeatedNumber:
    row: int
    phone: str
    first_row: int


@dataclass
class PersonalisationCheck:
    rows: list[PersonalisedRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0
    rows_with_problems: int = 0
    repeated: list[RepeatedNumber] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)

    @property
    def total_segments(self) -> int:
        return sum(r.segments for r in self.rows)

    @property
    def missing_values(self) -> bool:
        return any(p.kind == "missing_value" for p in self.problems)

    def add(self, problem: RowProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)


def check_rows(
    template_content: str,
    rows: Iterable[tuple[int, str, Mapping[str, object]]],
    phone_column: str = "phone",
    suffix: str = "",
    statement: str = "",
) -> PersonalisationCheck:
    """Render `template_content` for each (row number, number as written, values), then
    append `suffix` (the web's enquiry-number suffix) to each text, and for a commercial
    send the unsubscribe `statement` on a line of its own unless the text has it."""
    check = PersonalisationCheck(placeholders=placeholders(template_content))
    first_row_of: dict[str, int] = {}
    # Translated once: a file of 100,000 bad rows has 100,000 of the same problem.
    not_a_number = _("not a Hong Kong number (8 digits, e.g. 9123 4567)")
    no_number = _("no number")
    no_value = _("no value for ((%(name)s))")
    for row_number, raw_phone, values in rows:
        problems_before = check.problem_count
        phone = normalize_phone(raw_phone) if isinstance(raw_phone, str) else None
        if phone is None:
            shown = "" if raw_phone is None else str(raw_phone)
            check.add(
                RowProblem(
                    row_number,
                    phone_column,
                    "invalid_phone",
                    not_a_number if shown.strip() else no_number,
                    shown[:40],
                )
            )
        rendering = render(template_content, personalisation_by_key(values))
        text = with_statement(rendering.text + suffix, statement)
        for name in rendering.missing:
            check.add(RowProblem(row_number, name, "missing_value", no_value % {"name": name}))
        if not rendering.missing:  # a text with a gap in it is not judged further
            problem = text_problem(row_number, text, with_unsubscribe=bool(statement))
            if problem is not None:
                check.add(problem)
        if check.problem_count > problems_before:
            check.rows_with_problems += 1
            continue
        assert phone is not None
        first = first_row_of.setdefault(phone, row_number)
        if first != row_number:
            check.repeated.append(RepeatedNumber(row_number, phone, first))
            continue
        check.rows.append(PersonalisedRow(row_number, phone, text, count_segments(text)))
    return check


def text_problem(row_number: int, text: str, with_unsubscribe: bool = False) -> RowProblem | None:
    """What is wrong with a row's finished text, if anything: too long, or not sendable."""
    if len(text) > MAX_CONTENT_LENGTH:
        return RowProblem(
            row_number,
            "content",
            "too_long",
            (
                _(
                    "the personalised text is %(count)s characters with the unsubscribe "
                    "statement; the maximum is %(max)s",
                    count=len(text),
                    max=MAX_CONTENT_LENGTH,
                )
                if with_unsubscribe
                else _(
                    "the personalised text is %(count)s characters; the maximum is %(max)s",
                    count=len(text),
                    max=MAX_CONTENT_LENGTH,
                )
            ),
        )
    try:
        validate_content(text)
    except InvalidContent as exc:
        return RowProblem(
            row_number, "content", "invalid_text", _("the text: %(problem)s", problem=exc)
        )
    return None
