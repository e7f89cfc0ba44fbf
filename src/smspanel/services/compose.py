"""Composing a send from the web form: the enquiry-number rule and every problem at once.

The rule: the enquiry number is required, is any number `normalize_phone` accepts (8 digits,
optionally `1234 5678`), and is appended to the content as ` EN:<8 digits>` (for example
` EN:12345678`), so the receiver knows whom to call. The whole text (content and suffix) must
fit `MAX_CONTENT_LENGTH`. The live counter in `static/js/compose.js` mirrors this module and
reads its numbers and tables from `counter_rules()`; a commercial send is counted with the
unsubscribe statement (`commercial.py`), over the numbers that are not skipped.

Validation itself is the core's (`phone`, `content`, `sending`); this module only gathers the
answers for all three fields so a refused form can name every problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smspanel.models import utcnow
from smspanel.services.commercial import with_statement
from smspanel.services.content import (
    MAX_CONTENT_LENGTH,
    ForcingCharacter,
    InvalidContent,
    characters_forcing_ucs2,
    counter_table,
    measure,
    validate_content,
)
from smspanel.services.phone import (
    InvalidRecipients,
    NoRecipients,
    normalize_phone,
    parse_recipient_lines,
)
from smspanel.services.scheduling import InvalidSchedule, parse_scheduled_at
from smspanel.services.sending import MAX_RECIPIENTS_PER_SEND
from smspanel.services.wording import _

ENQUIRY_PREFIX = " EN:"
ENQUIRY_SUFFIX_LENGTH = len(ENQUIRY_PREFIX) + 8
MAX_INVALID_LINES_SHOWN = 50


class InvalidEnquiryNumber(ValueError):
    """The enquiry number is missing or not a Hong Kong number."""


@dataclass(frozen=True)
class InvalidLine:
    line_number: int  # the textarea's own line number, blank lines included
    value: str


class ComposeRefused(ValueError):
    """Everything wrong with a compose form, by field; nothing was queued."""

    def __init__(
        self, errors: dict[str, list[str]], invalid_lines: list[InvalidLine] | None = None
    ) -> None:
        self.errors = errors
        self.invalid_lines = invalid_lines or []
        super().__init__("; ".join(m for messages in errors.values() for m in messages))


@dataclass(frozen=True)
class ComposedSend:
    phones: list[str]
    content: str  # with the enquiry suffix, exactly as it will be sent
    scheduled_at: datetime | None = None


@dataclass(frozen=True)
class ContentStats:
    characters: int
    segments: int
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets or UTF-16 units
    forcing: list[ForcingCharacter]  # what makes an otherwise GSM-7 text UCS-2

    @property
    def replaceable(self) -> bool:
        """Whether the replacement table turns every character forcing UCS-2 into GSM-7."""
        return bool(self.forcing) and all(f.replacement for f in self.forcing)


def normalize_line_endings(text: str) -> str:
    """Browsers submit textarea line breaks as CRLF; an SMS line break is one LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def enquiry_number(raw: str) -> str:
    """The 8 digits of the enquiry number; raise InvalidEnquiryNumber naming the problem."""
    if not raw or not raw.strip():
        raise InvalidEnquiryNumber(_("enquiry number is required (8 digits, e.g. 1234 5678)"))
    digits = normalize_phone(raw)
    if digits is None:
        raise InvalidEnquiryNumber(
            _(
                "enquiry number %(value)s is not a Hong Kong number "
                "(8 digits, optionally as '1234 5678')",
                value=repr(raw.strip()),
            )
        )
    return digits


def compose_content(content: str, enquiry: str) -> str:
    """The text that will be sent: the content, then ` EN:` and the enquiry number's digits.

    Raises InvalidEnquiryNumber or InvalidContent (empty content, or too long with the suffix).
    """
    content = validate_content(normalize_line_endings(content))
    full = f"{content}{ENQUIRY_PREFIX}{enquiry_number(enquiry)}"
    if len(full) > MAX_CONTENT_LENGTH:
        raise InvalidContent(
            _(
                "message is %(length)s characters with the enquiry suffix '%(prefix)s…'; the "
                "maximum is %(maximum)s, so the content may be at most %(room)s characters",
                length=len(full),
                prefix=ENQUIRY_PREFIX.strip(),
                maximum=MAX_CONTENT_LENGTH,
                room=MAX_CONTENT_LENGTH - ENQUIRY_SUFFIX_LENGTH,
            )
        )
    return full


def prepare_send(
    recipients_text: str, content: str, enquiry: str, scheduled_at: str = ""
) -> ComposedSend:
    """Check every field; return what to queue, or raise ComposeRefused listing it all."""
    errors: dict[str, list[str]] = {}
    schedule = None
    try:
        schedule = parse_scheduled_at(scheduled_at, utcnow())
    except InvalidSchedule as exc:
        errors["scheduled_at"] = [str(exc)]
    bad_lines: list[InvalidLine] = []
    phones: list[str] = []
    try:
        phones = parse_recipient_lines(recipients_text or "")
    except InvalidRecipients as exc:
        bad_lines = [InvalidLine(e.position, e.value.strip()) for e in exc.invalid]
        errors["recipients"] = [
            _(
                "%(bad)s of %(total)s lines are not valid Hong Kong numbers "
                "(8 digits, optionally as '1234 5678')",
                bad=len(exc.invalid),
                total=exc.total,
            )
        ]
    except NoRecipients:
        errors["recipients"] = [_("enter at least one recipient, one number per line")]
    if len(phones) > MAX_RECIPIENTS_PER_SEND:
        errors["recipients"] = [
            _(
                "%(count)s recipients; at most %(maximum)s per send",
                count=len(phones),
                maximum=MAX_RECIPIENTS_PER_SEND,
            )
        ]

    full_content = ""
    try:
        enquiry_number(enquiry)
    except InvalidEnquiryNumber as exc:
        errors["enquiry_number"] = [str(exc)]
        try:
            validate_content(normalize_line_endings(content or ""))
        except InvalidContent as content_exc:
            errors["content"] = [str(content_exc)]
    else:
        try:
            full_content = compose_content(content or "", enquiry)
        except InvalidContent as exc:
            errors["content"] = [str(exc)]

    if errors:
        raise ComposeRefused(errors, bad_lines)
    return ComposedSend(phones=phones, content=full_content, scheduled_at=schedule)


def content_stats(text: str) -> ContentStats:
    """What the counter shows for `text`: characters, segments, encoding and what forces UCS-2."""
    counted = measure(text)
    return ContentStats(
        characters=counted.characters,
        segments=counted.segments,
        encoding=counted.encoding,
        units=counted.units,
        forcing=characters_forcing_ucs2(text),
    )


def preview_content(content: str, enquiry: str, statement: str = "") -> str:
    """The text as it would be sent, with a placeholder suffix while the number is not valid,
    and for a commercial send the unsubscribe `statement` as the send adds it."""
    content = normalize_line_endings(content or "")
    try:
        digits = enquiry_number(enquiry)
    except InvalidEnquiryNumber:
        digits = "XXXXXXXX"
    return with_statement(f"{content}{ENQUIRY_PREFIX}{digits}", statement)


def counter_rules() -> dict[str, object]:
    """What the browser's live counter needs, straight from the core: one table, two counters."""
    return {"maxLength": MAX_CONTENT_LENGTH, "enquiryPrefix": ENQUIRY_PREFIX, **counter_table()}
