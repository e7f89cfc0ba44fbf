"""The history and audit query strings: unusable values are dropped and named, never an error."""

from __future__ import annotations

from datetime import date

from smspanel.services.history_filters import MAX_SEARCH_LENGTH, HistoryFilters


def test_a_clean_query_reads_into_filters_and_back():
    filters = HistoryFilters.from_args(
        {"search": "road", "status": "failed", "date_from": "2026-01-02", "date_to": "2026-01-05"}
    )
    assert (filters.date_from, filters.date_to, filters.errors) == (
        date(2026, 1, 2),
        date(2026, 1, 5),
        [],
    )
    assert filters.active
    assert filters.query_args() == {
        "search": "road",
        "status": "failed",
        "date_from": "2026-01-02",
        "date_to": "2026-01-05",
    }


def test_unusable_values_are_dropped_and_named():
    filters = HistoryFilters.from_args(
        {"status": "lost", "date_from": "yesterday", "before": "-1", "after": str(2**63)}
    )
    assert (filters.status, filters.date_from, filters.before, filters.after) == (
        "",
        None,
        None,
        None,
    )
    assert len(filters.errors) == 2 and not filters.active


def test_dates_in_the_wrong_order_are_named_and_the_search_is_bounded():
    filters = HistoryFilters.from_args(
        {"date_from": "2026-02-01", "date_to": "2026-01-01", "search": "x\x00" * 300}
    )
    assert filters.errors == ["the 'from' date is after the 'to' date; nothing can match"]
    assert filters.search == "x" * MAX_SEARCH_LENGTH
