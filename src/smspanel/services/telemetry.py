"""What operators watch on their dashboards: the metrics `GET /metrics` shows.

Two kinds, each read where it is true:

- **What processes observe** (recipients reaching a status, gateway requests and their
  durations, HTTP requests) are counters and a histogram. Each process keeps its own, and the
  scrape adds up every process of the host: gunicorn's workers and the dispatcher process
  (prometheus_client's multiprocess mode, one file per process in `PROMETHEUS_MULTIPROC_DIR`,
  set up by `metrics_directory.py`). They start again from zero when the host's server starts,
  as any Prometheus counter does after a restart; `rate()` and `increase()` read through it.
- **What the database knows now** (the queue, dead letters, webhook deliveries) is read at
  each scrape by a few indexed queries, so every process and host shows the same figures.

prometheus_client is imported on first use, not with this module: it decides when it is
imported whether values live in files, and the serving processes and the dispatcher set
`PROMETHEUS_MULTIPROC_DIR` only once they have imported the app.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.orm import Session

from smspanel.models import (
    DeadLetter,
    DeadLetterStatus,
    Message,
    MessageStatus,
    Recipient,
    RecipientStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from smspanel.services.transactions import after_commit, transaction

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram
    from prometheus_client.metrics_core import Metric

# The text format every Prometheus reads (the 1.0.0 format is only needed for UTF-8 names).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Gateway answers take tens of milliseconds to a few seconds; the read timeout is 15 s.
GATEWAY_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)

# How a gateway request ended, the histogram's one label.
ACCEPTED, REFUSED, TRANSPORT_ERROR, INTERNAL_ERROR = (
    "accepted",
    "refused",
    "transport_error",
    "internal_error",
)

GATEWAY_RESULTS = (ACCEPTED, REFUSED, TRANSPORT_ERROR, INTERNAL_ERROR)
# How a webhook POST ended: the receiver took it, it is tried again later, or never again.
WEBHOOK_OUTCOMES = ("delivered", "retried", "failed")
COUNTED_STATUSES = tuple(str(status) for status in RecipientStatus)

# A request no route matched (404, 405): one label value, whatever the path was.
UNMATCHED_ENDPOINT = "unmatched"


@dataclass(frozen=True)
class _Instruments:
    recipients: Counter
    gateway_seconds: Histogram
    http_requests: Counter
    webhook_attempts: Counter
    in_files: bool  # multiprocess mode: every process's values are read from its files

    def all(self) -> tuple[Any, ...]:
        return (self.recipients, self.gateway_seconds, self.http_requests, self.webhook_attempts)


@functools.cache
def _instruments() -> _Instruments:
    from prometheus_client import Counter, Histogram, disable_created_metrics, values

    disable_created_metrics()  # `_created` series: not kept in multiprocess mode either
    # In no registry of prometheus_client's own: each scrape builds a registry of its own.
    instruments = _Instruments(
        recipients=Counter(
            "smspanel_recipients",
            "Recipients that reached each status: pending when accepted into the queue, "
            "skipped at accept or at claim, then sent, failed or cancelled.",
            ["status"],
            registry=None,
        ),
        gateway_seconds=Histogram(
            "smspanel_gateway_request_seconds",
            "Duration of each request to the SMS gateway, by how it ended.",
            ["result"],
            buckets=GATEWAY_SECONDS_BUCKETS,
            registry=None,
        ),
        http_requests=Counter(
            "smspanel_http_requests",
            "HTTP requests answered, by Flask endpoint and status code.",
            ["endpoint", "status"],
            registry=None,
        ),
        webhook_attempts=Counter(
            "smspanel_webhook_attempts",
            "Webhook POSTs made, by outcome: delivered, retried later, or failed for good.",
            ["outcome"],
            registry=None,
        ),
        in_files=bool(getattr(values.ValueClass, "_multiprocess", False)),
    )
    # Every status and result shown from the start, at 0: a dashboard's rate() needs a
    # series before its first increase.
    for status in COUNTED_STATUSES:
        instruments.recipients.labels(status)
    for result in GATEWAY_RESULTS:
        instruments.gateway_seconds.labels(result)
    for outcome in WEBHOOK_OUTCOMES:
        instruments.webhook_attempts.labels(outcome)
    return instruments


# --- what processes observe -------------------------------------------------------------------


class StatusChanges(Protocol):
    """How many recipients of one message just became each final status (a CountChange)."""

    @property
    def sent(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def cancelled(self) -> int: ...
    @property
    def skipped(self) -> int: ...


def count_accepted_after_commit(session: Session, pending: int, skipped: int) -> None:
    """A send's recipients entered the queue (pending) or were skipped at accept: counted
    once its transaction commits, never for one rolled back."""
    _count_after_commit(
        session, {RecipientStatus.PENDING: pending, RecipientStatus.SKIPPED: skipped}
    )


def count_changes_after_commit(session: Session, changes: Iterable[StatusChanges]) -> None:
    """Recipients that became sent, failed, cancelled or skipped, counted once the change
    commits. A failed recipient put back in the queue (a dead letter retried) counts nothing:
    it counts again when it ends a second time."""
    totals = {RecipientStatus.SENT: 0, RecipientStatus.FAILED: 0}
    totals |= {RecipientStatus.CANCELLED: 0, RecipientStatus.SKIPPED: 0}
    for change in changes:
        totals[RecipientStatus.SENT] += max(change.sent, 0)
        totals[RecipientStatus.FAILED] += max(change.failed, 0)
        totals[RecipientStatus.CANCELLED] += max(change.cancelled, 0)
        totals[RecipientStatus.SKIPPED] += max(change.skipped, 0)
    _count_after_commit(session, totals)


def _count_after_commit(session: Session, counts: dict[RecipientStatus, int]) -> None:
    moved = {str(status): n for status, n in counts.items() if n > 0}
    if moved:
        after_commit(session, functools.partial(_count_recipients, moved))


def _count_recipients(counts: dict[str, int]) -> None:
    recipients = _instruments().recipients
    for status, n in counts.items():
        recipients.labels(status).inc(n)


def observe_gateway_request(seconds: float, result: str) -> None:
    _instruments().gateway_seconds.labels(result).observe(seconds)


def count_webhook_attempts_after_commit(session: Session, outcomes: dict[str, int]) -> None:
    """Webhook POSTs by outcome, counted once their results are recorded."""
    moved = {outcome: n for outcome, n in outcomes.items() if n > 0}
    if moved:
        after_commit(session, functools.partial(_count_webhook_attempts, moved))


def _count_webhook_attempts(outcomes: dict[str, int]) -> None:
    attempts = _instruments().webhook_attempts
    for outcome, n in outcomes.items():
        attempts.labels(outcome).inc(n)


def count_http_request(endpoint: str | None, status: int) -> None:
    """By endpoint name, not path: as many label values as the app has routes."""
    _instruments().http_requests.labels(endpoint or UNMATCHED_ENDPOINT, str(status)).inc()


# --- what the database knows now --------------------------------------------------------------

# 'pending' written into the SQL, not bound: SQLite uses the recipients' queue index, which
# holds only pending rows there, only for a query that says so (as queue_order.py does).
_r = Recipient.__table__.c
_PENDING = _r.status == literal_column(f"'{RecipientStatus.PENDING}'")
_NOW = bindparam("now", type_=_r.next_attempt_at.type)
# The queue's size from the counts on the rows of the messages being sent (a range of
# ix_messages_status_created_at): as many rows read as sends in progress, where counting
# the recipients read one index entry per recipient waiting (20 ms a 100,000 on PostgreSQL
# here). Scheduled and held sends have a status of their own, so they are left out.
_m = Message.__table__.c
QUEUE_DEPTH = select(
    func.coalesce(
        func.sum(
            _m.recipient_count
            - _m.sent_count
            - _m.failed_count
            - _m.skipped_count
            - _m.cancelled_count
        ),
        0,
    )
).where(_m.status == MessageStatus.PENDING)
# The oldest due one: the first entry of a range of ix_recipients_status_next_attempt_at_turn.
# A claimed row is due at its lease's end, a held or scheduled one at its time: not due now.
OLDEST_DUE = (
    select(_r.next_attempt_at)
    .where(_PENDING, _r.next_attempt_at <= _NOW)
    .order_by(_r.next_attempt_at)
    .limit(1)
)
DEAD_LETTERS_PENDING = (
    select(func.count())
    .select_from(DeadLetter.__table__)
    .where(DeadLetter.__table__.c.status == DeadLetterStatus.PENDING)
)
_d = WebhookDelivery.__table__.c
# Those still waiting and those given up on: ranges of ix_webhook_deliveries_status_next_attempt_at.
# The delivered ones, which only grow, are counted as they happen (smspanel_webhook_attempts).
WEBHOOK_DELIVERIES_BY_STATUS = (
    select(_d.status, func.count())
    .where(_d.status.in_([WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.FAILED]))
    .group_by(_d.status)
)
WATCHED_DELIVERY_STATUSES = (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.FAILED)


@dataclass(frozen=True)
class QueueSnapshot:
    queue_depth: int
    oldest_due_seconds: float
    dead_letters_pending: int
    webhook_deliveries: dict[str, int]


def read_queue_snapshot(session: Session, now: datetime) -> QueueSnapshot:
    """The queue now, in one read transaction: each figure one indexed range or index scan,
    none reading the history."""
    with transaction(session):
        parameters = {"now": now}
        depth = int(session.scalar(QUEUE_DEPTH) or 0)
        oldest = session.scalar(OLDEST_DUE, parameters)
        dead = session.scalar(DEAD_LETTERS_PENDING) or 0
        deliveries = {str(status): 0 for status in WATCHED_DELIVERY_STATUSES}
        deliveries |= {status: n for status, n in session.execute(WEBHOOK_DELIVERIES_BY_STATUS)}
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return QueueSnapshot(max(depth, 0), age, dead, deliveries)


# --- the scrape -------------------------------------------------------------------------------


@functools.cache
def build_info() -> dict[str, str]:
    """The package's version, the checkout's commit when it is one (else "unknown"), Python."""
    try:
        version = importlib.metadata.version("smspanel")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"version": version, "commit": _git_commit(), "python": platform.python_version()}


def _git_commit() -> str:
    """Asked of git once per process; an installed package (no checkout) has none."""
    checkout = Path(__file__).resolve().parents[3]
    if not (checkout / ".git").exists():
        return "unknown"
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


class _SnapshotCollector:
    """The database's figures and the build, as one scrape's gauges."""

    def __init__(self, snapshot: QueueSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        s = self.snapshot
        yield GaugeMetricFamily(
            "smspanel_queue_depth",
            "Recipients of the sends in progress still without a result: waiting, on the "
            "wire, or waiting for a retry (scheduled and held sends not counted).",
            s.queue_depth,
        )
        yield GaugeMetricFamily(
            "smspanel_oldest_pending_seconds",
            "How long the longest-waiting due recipient has been due (0 when none is).",
            s.oldest_due_seconds,
        )
        yield GaugeMetricFamily(
            "smspanel_dead_letters_pending",
            "Recipients failed for good and waiting for review (dead letters pending).",
            s.dead_letters_pending,
        )
        deliveries = GaugeMetricFamily(
            "smspanel_webhook_deliveries",
            "Webhook deliveries stored, by status: pending (still to be delivered) or failed "
            "(given up on after 24 h of retries).",
            labels=["status"],
        )
        for status, n in sorted(s.webhook_deliveries.items()):
            deliveries.add_metric([status], n)
        yield deliveries
        info = build_info()
        build = GaugeMetricFamily(
            "smspanel_build_info",
            "The running version, its git commit and Python; always 1.",
            labels=list(info),
        )
        build.add_metric(list(info.values()), 1)
        yield build


def exposition(snapshot: QueueSnapshot) -> bytes:
    """The Prometheus text: every process's counters (from their files in multiprocess
    mode, else this process's) and the snapshot's gauges."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    instruments = _instruments()
    registry = CollectorRegistry(auto_describe=False)
    if instruments.in_files:
        MultiProcessCollector(registry)
    else:
        for metric in instruments.all():
            registry.register(metric)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)
