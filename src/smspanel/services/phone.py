"""Hong Kong phone numbers: the one rule web, API and worker all apply."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from smspanel.services.wording import _

# ASCII digits only: `\d` would also accept Arabic-Indic and full-width digits.
_PHONE = re.compile(r"(?:\+?852 ?)?([0-9]{4}) ?([0-9]{4})")


@dataclass(frozen=True)
class InvalidEntry:
    position: int  # 1-based: the list index + 1, or the textarea line number
    value: str


class InvalidRecipients(ValueError):
    """Some entries are not Hong Kong numbers; every one of them is listed."""

    def __init__(self, invalid: list[InvalidEntry], total: int) -> None:
        self.invalid = invalid
        self.total = total
        shown = ", ".join(f"#{e.position} {e.value!r}" for e in invalid[:10])
        more = _(" and %(count)s more", count=len(invalid) - 10) if len(invalid) > 10 else ""
        super().__init__(
            _(
                "%(count)s of %(total)s recipients are not valid Hong Kong numbers "
                "(8 digits, optionally as '1234 5678'): %(shown)s%(more)s",
                count=len(invalid),
                total=total,
                shown=shown,
                more=more,
            )
        )


class NoRecipients(ValueError):
    """A send needs at least one number."""


def normalize_phone(raw: str) -> str | None:
    """The 8 digits of a valid number (surrounding blanks ignored), or None."""
    if len(raw) == 8 and raw.isascii() and raw.isdigit():
        return raw  # already normalised, as most numbers of a large send are: no regex
    match = _PHONE.fullmatch(raw.strip())
    if match is None:
        return None
    return match.group(1) + match.group(2)


def parse_recipients(entries: Iterable[str]) -> list[str]:
    """Normalise every entry, refusing all if any is invalid; repeats are kept once, in order."""
    return _parse_numbered(enumerate(entries, start=1))


def parse_recipient_lines(text: str) -> list[str]:
    """The textarea form: one number per line; blank lines are skipped but keep their count,
    so an error names the line a person sees."""
    lines = enumerate(text.splitlines(), start=1)
    return _parse_numbered((n, line) for n, line in lines if line.strip())


def split_numbered(
    entries: Iterable[tuple[int, object]],
) -> tuple[list[str], list[InvalidEntry], int]:
    """(distinct numbers in order, the invalid entries, how many entries there were)."""
    numbers: dict[str, None] = {}
    invalid: list[InvalidEntry] = []
    total = 0
    for position, entry in entries:
        total += 1
        phone = normalize_phone(entry) if isinstance(entry, str) else None
        if phone is None:
            invalid.append(InvalidEntry(position, str(entry)))
        else:
            numbers.setdefault(phone)
    return list(numbers), invalid, total


def _parse_numbered(entries: Iterable[tuple[int, str]]) -> list[str]:
    numbers, invalid, total = split_numbered(entries)
    if invalid:
        raise InvalidRecipients(invalid, total)
    if not numbers:
        raise NoRecipients(_("at least one recipient is required"))
    return numbers


def gateway_number(phone: str) -> str:
    """The gateway's `mrt` form: country code and the 8 digits."""
    return f"852{phone}"


def display_phone(phone: str) -> str:
    return f"{phone[:4]} {phone[4:]}"
