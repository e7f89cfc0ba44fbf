"""Which kind of line a Hong Kong number is, from Hong Kong's numbering plan.

The plan's data is libphonenumber's, through the pinned `phonenumbers` package (README:
"Which numbers get an SMS" says how to update it). Its data lags new mobile ranges, so only
numbers it positively places in a non-SMS range are skipped; numbers it does not know are
`unknown` and sent with a warning.

`phonenumbers.number_type` costs about 10-20 µs a number, two seconds for a send of 100,000.
In the current data every type pattern of an 8-digit Hong Kong number is decided by its
first 4 digits, so the class is kept per 4-digit prefix, computed once per process from
several numbers of that prefix. A prefix whose samples disagree (a future range split
inside a block of 10,000) is classified number by number, so the shortcut can never give
another answer than the data; tests/services/test_numbering.py checks both against
`phonenumbers` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import phonenumbers
from phonenumbers import PhoneNumberType

HONG_KONG = 852
# Numbers of each prefix that must agree before the prefix stands for all its numbers.
SAMPLE_SUFFIXES = ("0000", "9999", "5050", "1234", "8765")


class NumberClass(StrEnum):
    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    PAGER = "pager"
    NOT_MOBILE = "not_mobile"  # toll-free, premium rate, personal numbers and other non-SMS
    UNKNOWN = "unknown"  # not in the plan's data: sent, with a warning


CLASS_OF_TYPE = {
    PhoneNumberType.MOBILE: NumberClass.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberClass.MOBILE,
    PhoneNumberType.FIXED_LINE: NumberClass.FIXED_LINE,
    PhoneNumberType.PAGER: NumberClass.PAGER,
    PhoneNumberType.TOLL_FREE: NumberClass.NOT_MOBILE,
    PhoneNumberType.PREMIUM_RATE: NumberClass.NOT_MOBILE,
    PhoneNumberType.PERSONAL_NUMBER: NumberClass.NOT_MOBILE,
    PhoneNumberType.VOIP: NumberClass.NOT_MOBILE,
    PhoneNumberType.UAN: NumberClass.NOT_MOBILE,
    PhoneNumberType.VOICEMAIL: NumberClass.NOT_MOBILE,
    PhoneNumberType.SHARED_COST: NumberClass.NOT_MOBILE,
    PhoneNumberType.UNKNOWN: NumberClass.UNKNOWN,
}
# What a send does with each class (when skipping is on): fixed line, pager and the other
# non-SMS kinds are skipped with the class as their reason; mobile and unknown are sent.
SKIPPED_CLASSES = frozenset({NumberClass.FIXED_LINE, NumberClass.PAGER, NumberClass.NOT_MOBILE})

# Per process: a prefix's class, or None when its numbers need classifying one by one.
_by_prefix: dict[str, NumberClass | None] = {}


def classify_exactly(phone: str) -> NumberClass:
    """The class `phonenumbers` gives these 8 digits, asked for this number alone."""
    return CLASS_OF_TYPE.get(phonenumbers.number_type(_parsed(phone)), NumberClass.UNKNOWN)


def classify(phone: str) -> NumberClass:
    """The class of a normalised number (8 digits), through its prefix when it may."""
    prefix = phone[:4]
    try:
        known = _by_prefix[prefix]
    except KeyError:
        known = _by_prefix[prefix] = _prefix_class(prefix)
    return known if known is not None else classify_exactly(phone)


def classify_all(phones: Iterable[str]) -> dict[str, NumberClass]:
    """Every number's class, in the order given."""
    return {phone: classify(phone) for phone in phones}


def _prefix_class(prefix: str) -> NumberClass | None:
    classes = {classify_exactly(prefix + suffix) for suffix in SAMPLE_SUFFIXES}
    return classes.pop() if len(classes) == 1 else None


def _parsed(phone: str) -> phonenumbers.PhoneNumber:
    if phone.startswith("0"):  # never a Hong Kong number; leading zeros need the parser's care
        return phonenumbers.parse(f"+{HONG_KONG}{phone}")
    return phonenumbers.PhoneNumber(country_code=HONG_KONG, national_number=int(phone))
