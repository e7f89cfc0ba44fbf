"""The query string of /history, /admin/messages and the audit page, read into filters.

Filters arrive as a plain mapping, so they are read without a request; an unusable value
is dropped and named, never an error page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from smspanel.models import MessageStatus
from smspanel.services.pagination import parse_page
from smspanel.services.wording import _

MAX_SEARCH_LENGTH = 200


def _message_id(raw: str | None) -> int | None:
    """A message id from a link; anything else is ignored (the page number still applies)."""
    try:
        value = int(raw or "")
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


@dataclass
class HistoryFilters:
    """The /history and /admin/messages query: search, status and an HKT date range."""

    search: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    # From Next/Previous links: the page starts just older (before) or newer (after) than
    # this message, which an index finds at any depth; `page` then only labels it.
    before: int | None = None
    after: int | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> HistoryFilters:
        """Read the query parameters; an unusable value is dropped and named in `errors`."""
        filters = cls(
            search="".join(ch for ch in (args.get("search") or "") if ch.isprintable()).strip()[
                :MAX_SEARCH_LENGTH
            ],
            page=parse_page(args.get("page")),
            before=_message_id(args.get("before")),
            after=_message_id(args.get("after")),
        )
        status = (args.get("status") or "").strip().lower()
        if status in tuple(MessageStatus):
            filters.status = status
        elif status:
            filters.errors.append(
                _(
                    "unknown status %(status)s; choose one of %(choices)s",
                    status=repr(status),
                    choices=", ".join(tuple(MessageStatus)),
                )
            )
        filters.date_from = filters._parse_day(args, "date_from")
        filters.date_to = filters._parse_day(args, "date_to")
        if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
            filters.errors.append(_("the 'from' date is after the 'to' date; nothing can match"))
        return filters

    def _parse_day(self, args: Mapping[str, str], name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            if name == "date_from":
                problem = _("'from' date %(value)s is not a date (YYYY-MM-DD)", value=repr(raw))
            else:
                problem = _("'to' date %(value)s is not a date (YYYY-MM-DD)", value=repr(raw))
            self.errors.append(problem)
            return None

    @property
    def active(self) -> bool:
        return bool(self.search or self.status or self.date_from or self.date_to)

    def query_args(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them (pagination)."""
        args = {
            "search": self.search,
            "status": self.status,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {k: v for k, v in args.items() if v}
