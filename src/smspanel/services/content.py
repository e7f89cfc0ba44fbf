"""SMS content: what may be sent, how it is encoded and how many segments it costs.

The counting rule, the one source of truth for the server and the page (`static/js/compose.js`
implements the same packing over `counter_table()`):
- A text of only GSM 03.38 characters is GSM-7: one septet each, two for the extension table
  (escape + character: € [ ] { } ^ ~ \\ | and form feed). One SMS holds 160 septets; a longer
  text goes in parts of 153.
- Any other character makes the whole text UCS-2: UTF-16 code units, so a character outside
  the BMP (HKSCS such as 𨋢, emoji) takes two. One SMS holds 70 units; parts hold 67.
- Parts are packed greedily and never split an escape pair or a surrogate pair: a pair that
  would straddle a part boundary starts the next part, leaving one unit unused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from smspanel.services.wording import _

MAX_CONTENT_LENGTH = 1000

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 basic set (1 septet each) and extension set (2 septets: escape + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

# Characters that sneak into otherwise GSM-7 text (word processors, Chinese input methods)
# and the GSM-7 text that can stand in for each. Small and explicit on purpose: only
# stand-ins a reader would not notice.
GSM7_REPLACEMENTS: dict[str, str] = {
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark
    "\u201a": "'",  # single low-9 quotation mark
    "\u201b": "'",  # single high-reversed-9 quotation mark
    "\u2032": "'",  # prime
    "\u00b4": "'",  # acute accent
    "`": "'",  # grave accent
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',  # right double quotation mark
    "\u201e": '"',  # double low-9 quotation mark
    "\u2033": '"',  # double prime
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # horizontal ellipsis
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u3000": " ",  # ideographic space
    "\t": " ",  # tab
    "\uff0c": ",",  # fullwidth comma
    "\u3001": ",",  # ideographic comma
    "\u3002": ".",  # ideographic full stop
    "\uff0e": ".",  # fullwidth full stop
    "\uff1a": ":",  # fullwidth colon
    "\uff1b": ";",  # fullwidth semicolon
    "\uff1f": "?",  # fullwidth question mark
    "\uff01": "!",  # fullwidth exclamation mark
    "\uff08": "(",  # fullwidth left parenthesis
    "\uff09": ")",  # fullwidth right parenthesis
    "\uff02": '"',  # fullwidth quotation mark
    "\uff07": "'",  # fullwidth apostrophe
    "\uff05": "%",  # fullwidth percent sign
    "\uff06": "&",  # fullwidth ampersand
    "\uff0b": "+",  # fullwidth plus sign
    "\uff0d": "-",  # fullwidth hyphen-minus
    "\uff0f": "/",  # fullwidth solidus
    "\uff1d": "=",  # fullwidth equals sign
    "\uff20": "@",  # fullwidth commercial at
}
_REPLACE = str.maketrans(GSM7_REPLACEMENTS)

# The characters forcing UCS-2 are named only in an otherwise GSM-7 text: a few distinct
# ones, a small share of the text. Naming every character of a Chinese notice helps nobody.
NAMED_AT_MOST = 10  # distinct characters
NAMED_SHARE = 4  # they are at most 1/NAMED_SHARE of the characters

# The same rules as regular expressions: a 100,000-row personalised send counts every
# rendered text, and a scan in C is ~50 times faster than a loop over characters in Python.
_ALL_GSM7 = re.compile(
    "[" + "".join(re.escape(ch) for ch in sorted(GSM7_BASIC | GSM7_EXTENDED)) + "]*"
)
_NOT_GSM7 = re.compile(
    "[^" + "".join(re.escape(ch) for ch in sorted(GSM7_BASIC | GSM7_EXTENDED)) + "]"
)
_EXTENDED_CHARACTERS = "".join(sorted(GSM7_EXTENDED))
# Unicode's Cc (control) characters except tab and line breaks, and lone surrogates.
_UNSUPPORTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# Segment sizes: one SMS, and each part of a longer one (the rest carries the joining header).
GSM7_SINGLE, GSM7_PART = 160, 153  # septets
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


class InvalidContent(ValueError):
    """The content is empty, blank or too long."""


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # GSM7 or UCS2
    characters: int  # code points, as people count them
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


@dataclass(frozen=True)
class ForcingCharacter:
    """A character that makes an otherwise GSM-7 text UCS-2, and where it is."""

    character: str
    positions: tuple[int, ...]  # 1-based, in characters (as validation names positions)
    replacement: str | None  # GSM-7 text that can stand in, if any

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def code_point(self) -> str:
        return f"U+{ord(self.character):04X}"


def validate_content(content: str) -> str:
    """Return the content unchanged if it may be sent; raise InvalidContent naming why not."""
    if not content or not content.strip():
        raise InvalidContent(_("content is required and cannot be only white space"))
    if len(content) > MAX_CONTENT_LENGTH:
        raise InvalidContent(
            _(
                "content is %(count)s characters; the maximum is %(max)s",
                count=len(content),
                max=MAX_CONTENT_LENGTH,
            )
        )
    # Control characters have no place in an SMS (and PostgreSQL cannot store U+0000);
    # lone surrogates are not text at all.
    unsupported = _UNSUPPORTED.search(content)
    if unsupported:
        raise InvalidContent(
            _(
                "content contains an unsupported character %(code)s at position %(position)s",
                code=f"U+{ord(unsupported.group()):04X}",
                position=unsupported.start() + 1,
            )
        )
    return content


def is_gsm7(content: str) -> bool:
    return _ALL_GSM7.fullmatch(content) is not None


# Counting is tuned for 100,000 rendered rows (PERFORMANCE.md): short texts return early,
# str.find beats a regular expression over the text, and pair edges are checked only in a
# long text that has pairs.


def _escape_positions(content: str) -> list[int]:
    """Where each extension character is, in characters, in order."""
    positions = []
    for ch in _EXTENDED_CHARACTERS:
        at = content.find(ch)
        while at != -1:
            positions.append(at)
            at = content.find(ch, at + 1)
    positions.sort()
    return positions


def _packed(units: int, pair_starts_at: Callable[[int], bool], part: int) -> int:
    """Parts of `part` units for a multipart text, greedily packed so that no pair
    straddles two parts: a pair on the edge opens the next part instead."""
    segments, start = 1, 0
    while units - start > part:
        end = start + part
        start = end - 1 if pair_starts_at(end - 1) else end
        segments += 1
    return segments


def _gsm7_units_and_segments(content: str) -> tuple[int, int]:
    positions = _escape_positions(content)
    units = len(content) + len(positions)
    if units <= GSM7_SINGLE:
        return units, 1 if units else 0
    if not positions:
        return units, -(-units // GSM7_PART)
    pair_starts = {at + before for before, at in enumerate(positions)}  # in septets
    return units, _packed(units, pair_starts.__contains__, GSM7_PART)


def _ucs2_segments(utf16: bytes, length: int) -> int:
    """Segments of a UCS-2 text, from its UTF-16 bytes and its length in characters."""
    units = len(utf16) // 2
    if units <= UCS2_SINGLE:
        return 1
    if units == length:  # the common case: no surrogate pairs at all
        return -(-units // UCS2_PART)

    def high_surrogate_at(unit: int) -> bool:
        return 0xD8 <= utf16[2 * unit + 1] <= 0xDB

    return _packed(units, high_surrogate_at, UCS2_PART)


def measure(content: str) -> SegmentCount:
    """Encoding, characters, units and segments of `content`, as the counter shows them."""
    if is_gsm7(content):
        units, segments = _gsm7_units_and_segments(content)
        return SegmentCount(GSM7, len(content), units, segments)
    utf16 = content.encode("utf-16-le", "surrogatepass")
    return SegmentCount(UCS2, len(content), len(utf16) // 2, _ucs2_segments(utf16, len(content)))


def count_segments(content: str) -> int:
    """SMS parts the gateway will bill (the rule in this module's docstring)."""
    length = len(content)
    if not length:
        return 0
    if is_gsm7(content):
        if 2 * length <= GSM7_SINGLE:  # fits even if every character took two septets
            return 1
        return _gsm7_units_and_segments(content)[1]
    if 2 * length <= UCS2_SINGLE:
        return 1
    utf16 = content.encode("utf-16-le", "surrogatepass")
    if len(utf16) <= 2 * UCS2_SINGLE:
        return 1
    return _ucs2_segments(utf16, length)


def characters_forcing_ucs2(content: str) -> list[ForcingCharacter]:
    """In an otherwise GSM-7 text, each character that makes it UCS-2 (first seen first);
    empty for a GSM-7 text and for one mostly outside GSM-7, such as a Chinese notice."""
    found: dict[str, list[int]] = {}
    for total, match in enumerate(_NOT_GSM7.finditer(content), start=1):
        if total * NAMED_SHARE > len(content):
            return []
        found.setdefault(match.group(), []).append(match.start() + 1)
        if len(found) > NAMED_AT_MOST:
            return []
    return [
        ForcingCharacter(ch, tuple(positions), GSM7_REPLACEMENTS.get(ch))
        for ch, positions in found.items()
    ]


def replace_with_gsm7(content: str) -> str:
    """`content` with every character of the replacement table swapped for its stand-in."""
    return content.translate(_REPLACE)


def counter_table() -> dict[str, object]:
    """The rule as data, for the page's counter: the same sets, sizes and replacements."""
    return {
        "gsmBasic": "".join(sorted(GSM7_BASIC)),
        "gsmExtended": "".join(sorted(GSM7_EXTENDED)),
        "gsmSingle": GSM7_SINGLE,
        "gsmPart": GSM7_PART,
        "ucsSingle": UCS2_SINGLE,
        "ucsPart": UCS2_PART,
        "replacements": dict(GSM7_REPLACEMENTS),
        "namedAtMost": NAMED_AT_MOST,
        "namedShare": NAMED_SHARE,
    }
