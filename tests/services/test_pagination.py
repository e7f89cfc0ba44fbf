"""Pages of a listing: page numbers from links, clamping and the Next/Previous arithmetic."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from smspanel.models import User, db
from smspanel.services.pagination import Page, paginate, parse_page


@pytest.mark.parametrize(
    ("raw", "page"), [(None, 1), ("", 1), ("3", 3), ("0", 1), ("-2", 1), ("abc", 1), ("2.5", 1)]
)
def test_an_unusable_page_number_means_the_first_page(raw, page):
    assert parse_page(raw) == page


def test_a_page_past_the_end_is_the_last_page(app, make):
    for n in range(5):
        make.user(f"user{n}")
    with app.app_context():
        page = paginate(db.session, select(User.username).order_by(User.username), 9, 2)
    assert (page.page, page.pages, page.total) == (3, 3, 5)
    assert [row[0] for row in page.items] == ["user4"]
    assert (page.first_index, page.last_index, page.has_next, page.has_prev) == (5, 5, False, True)


def test_next_and_previous_links_keep_the_filters():
    page = Page(items=["a", "b"], total=10, page=2, per_page=2)
    assert page.next_args({"status": "sent"}) == {"status": "sent", "page": 3}
    assert page.prev_args({"status": "sent"}) == {"status": "sent", "page": 1}
    assert Page(items=[], total=0, page=1, per_page=20).pages == 1
