"""How long a webhook delivery keeps being retried: from its first try, or from a resend.

One constant shared by the sender (which gives up after it) and a resend (which starts a
new window), so the two never disagree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

RETRY_WINDOW = timedelta(hours=24)


def retry_until(start: datetime) -> datetime:
    """When a delivery first tried (or resent) at `start` is marked failed if still refused."""
    return start + RETRY_WINDOW
