"""The words services show people, translated by whatever the app installs.

Services stay free of the web framework: the app installs Flask-Babel's functions at start
(smspanel/i18n.py); the worker, the CLI and plain tests keep English. The strings are marked
with `_`/`ngettext`/`lazy_gettext` so that `pybabel extract` finds them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The contract's language codes (smspanel/i18n.py maps them to Babel's locales).
LANGUAGE_CODES = ("en", "zh-Hant")

_translate: Callable[[str], str] = lambda message: message  # noqa: E731
_translate_plural: Callable[[str, str, int], str] = lambda one, many, n: one if n == 1 else many  # noqa: E731


def install(gettext: Callable[[str], str], ngettext: Callable[[str, str, int], str]) -> None:
    global _translate, _translate_plural
    _translate, _translate_plural = gettext, ngettext


def _(message: str, **values: Any) -> str:
    """`message` in the reader's language, with `%(name)s` values filled in."""
    text = _translate(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, num: int, **values: Any) -> str:
    """The form for `num` in the reader's language; `%(num)s` is filled in too."""
    return _translate_plural(singular, plural, num) % {"num": num, **values}


class LazyText:
    """A phrase defined once (a module constant) and translated each time it is shown."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return _translate(self.message)

    def __repr__(self) -> str:
        return f"LazyText({self.message!r})"


def lazy_gettext(message: str) -> LazyText:
    return LazyText(message)


# Every status a page or a message names, in one place: messages, recipients, dead letters
# and accounts. Codes stay English in the API and exports; people read these words.
STATUS_LABELS = {
    "pending": lazy_gettext("Pending"),
    "sent": lazy_gettext("Sent"),
    "failed": lazy_gettext("Failed"),
    "partial": lazy_gettext("Partial"),
    "scheduled": lazy_gettext("Scheduled"),
    "cancelled": lazy_gettext("Cancelled"),
    "awaiting_approval": lazy_gettext("Awaiting approval"),
    "rejected": lazy_gettext("Rejected"),
    "skipped": lazy_gettext("Skipped"),
    "retried": lazy_gettext("Retried"),
    "abandoned": lazy_gettext("Abandoned"),
    "active": lazy_gettext("Active"),
    "disabled": lazy_gettext("Disabled"),
    "delivered": lazy_gettext("Delivered"),  # a webhook delivery the receiver took
}


def status_label(status: object) -> str:
    """A status as the reader's language names it (`sent` → "Sent" / 已發送)."""
    label = STATUS_LABELS.get(str(status))
    return str(label) if label is not None else str(status).capitalize()
