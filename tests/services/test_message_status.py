"""A message's status, derived from its counts: skipped and cancelled recipients included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspanel.models import FINAL_MESSAGE_STATUSES
from smspanel.services.message_status import derive_message_status


@pytest.mark.parametrize(
    ("total", "sent", "failed", "skipped", "cancelled", "current", "status"),
    [
        (4, 0, 0, 0, 0, "scheduled", "scheduled"),  # waiting for its time
        (4, 0, 0, 1, 0, "scheduled", "scheduled"),
        (4, 1, 0, 0, 0, "pending", "pending"),
        (4, 1, 0, 0, 2, "pending", "pending"),  # cancelled, one still with a dispatcher
        (4, 3, 0, 1, 0, "pending", "sent"),  # skipped numbers were never attempted
        (4, 0, 3, 1, 0, "pending", "failed"),
        (4, 2, 1, 1, 0, "pending", "partial"),
        (4, 2, 0, 0, 2, "pending", "cancelled"),  # the counts say how many went out first
        (4, 0, 0, 0, 4, "scheduled", "cancelled"),  # cancelled whole
        (4, 1, 1, 1, 1, "pending", "cancelled"),
        (4, 0, 0, 4, 0, "pending", "sent"),
    ],
)
def test_status_follows_the_counts(total, sent, failed, skipped, cancelled, current, status):
    assert derive_message_status(total, sent, failed, skipped, cancelled, current) == status


counts = st.integers(min_value=0, max_value=50)


@settings(max_examples=300, deadline=None)
@given(counts, counts, counts, counts, counts, st.sampled_from(["scheduled", "pending"]))
def test_a_message_is_final_exactly_when_no_recipient_is_pending(
    sent, failed, skipped, cancelled, pending, current
):
    total = sent + failed + skipped + cancelled + pending
    status = derive_message_status(total, sent, failed, skipped, cancelled, current)
    assert (status in FINAL_MESSAGE_STATUSES) == (pending == 0)
    if pending:
        assert status == current  # scheduled stays scheduled until a claim takes it
    elif cancelled:
        assert status == "cancelled"
    elif failed == 0:
        assert status == "sent"
    elif sent == 0:
        assert status == "failed"
    else:
        assert status == "partial"
