"""Pages of a listing: one query for the page's rows and one count of them all."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and where it sits among the others."""

    items: list[T]
    total: int
    page: int
    per_page: int
    total_is_capped: bool = False  # `total` is a lower bound: "more than N"

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)

    def next_args(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        """Query parameters for the Next link."""
        return {**filters, "page": self.page + 1}

    def prev_args(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        return {**filters, "page": self.page - 1}


def parse_page(raw: str | None) -> int:
    """A page number from the query string; anything unusable means the first page."""
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def paginate(session: Session, query: Select, page: int, per_page: int) -> Page[Any]:
    """Run `query` for one page (clamped to the last page) and count all its rows."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)).all())
    return Page(items=rows, total=total, page=page, per_page=per_page)
