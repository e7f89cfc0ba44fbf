"""SMS content: what may be sent and how many segments it costs."""

from __future__ import annotations

import math
import unicodedata

MAX_CONTENT_LENGTH = 1000

# GSM 03.38 basic set (1 septet each) and extension set (2 septets: escape + char).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")

# Segment sizes: one SMS, and each part of a longer one (the rest carries the joining header).
GSM7_SINGLE, GSM7_PART = 160, 153  # septets
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


class InvalidContent(ValueError):
    """The content is empty, blank or too long."""


def validate_content(content: str) -> str:
    """Return the content unchanged if it may be sent; raise InvalidContent naming why not."""
    if not content or not content.strip():
        raise InvalidContent("content is required and cannot be only white space")
    if len(content) > MAX_CONTENT_LENGTH:
        raise InvalidContent(
            f"content is {len(content)} characters; the maximum is {MAX_CONTENT_LENGTH}"
        )
    for position, ch in enumerate(content, start=1):
        # Control characters have no place in an SMS (and PostgreSQL cannot store U+0000);
        # lone surrogates are not text at all.
        if (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r") or "\ud800" <= ch <= "\udfff":
            raise InvalidContent(
                f"content contains an unsupported character U+{ord(ch):04X} at position {position}"
            )
    return content


def is_gsm7(content: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in content)


def count_segments(content: str) -> int:
    """SMS parts the gateway will bill: GSM-7 160/153 septets, else UCS-2 70/67 units."""
    if not content:
        return 0
    if is_gsm7(content):
        length = sum(2 if ch in GSM7_EXTENDED else 1 for ch in content)
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        length = len(content.encode("utf-16-le")) // 2  # emoji take two UCS-2 units
        single, part = UCS2_SINGLE, UCS2_PART
    return 1 if length <= single else math.ceil(length / part)
