"""The dispatcher: claims due recipients, sends them concurrently, records the outcomes.

One thread alone touches the database (claims and results, in short transactions); a
`SendingLoop` makes the gateway requests, `concurrency` at a time. The HTTP calls happen
outside every transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from queue import Empty, Queue
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from smspanel.services.cancelling import (
    CANCEL_CHECK_SECONDS,
    cancel_held_recipients,
    cancelled_among,
)
from smspanel.services.delivery.attempt import attempt_delivery
from smspanel.services.delivery.claims import (
    ClaimedRecipient,
    claim_due_recipients,
    release_claims,
)
from smspanel.services.delivery.gateway import GatewayClient
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.delivery.pacing import RateLimiter, Unlimited, rate_limiter_for
from smspanel.services.doorbell import DoorbellListener
from smspanel.services.transactions import with_conflict_retry
from smspanel.sqlite_tuning import refresh_planner_statistics

log = logging.getLogger(__name__)

WAIT_SLICE_SECONDS = 0.01
FLUSH_WITHIN_SECONDS = 0.01
# Claimed but not yet sent, per unit of concurrency: a claim tops this up only once half has
# gone, so claims come in batches of at least 2 x concurrency (cheaper per recipient).
PREFETCH_PER_SENDER = 4
# After a claim that emptied the queue, the next waits this long: work arriving one SMS at
# a time is then claimed a few dozen at once, not one transaction per SMS beside the web's.
GATHER_SECONDS = 0.02
STATISTICS_INTERVAL_SECONDS = 3600.0  # how often an idle dispatcher refreshes planner figures


@dataclass(frozen=True)
class Withdrawn:
    """A claimed recipient not sent because its message was cancelled."""

    recipient_id: int
    message_id: int


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class DispatcherSettings:
    concurrency: int = 8  # SMS_WORKER_CONCURRENCY: gateway requests in flight
    lease_seconds: float = 60.0  # SMS_CLAIM_LEASE_SECONDS
    poll_interval: float = 0.5  # SMS_POLL_INTERVAL: an idle look for work
    rate_per_sec: float = 0.0  # SMS_RATE_PER_SEC, shared by every dispatcher; 0 = no limit

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DispatcherSettings:
        return cls(
            concurrency=config["SMS_WORKER_CONCURRENCY"],
            lease_seconds=config["SMS_CLAIM_LEASE_SECONDS"],
            poll_interval=config["SMS_POLL_INTERVAL"],
            rate_per_sec=config["SMS_RATE_PER_SEC"],
        )


class SendingLoop:
    """One asyncio loop, in its own thread, makes every gateway request, `concurrency` at a time.

    A loop rather than a thread per request: threads spent most of their CPU on the HTTP
    client and on handing the GIL around (docs/PERFORMANCE.md). `concurrency` workers take
    recipients in claim order, wait for a send time if paced, and attempt each once.
    """

    def __init__(
        self,
        gateway: GatewayClient,
        pacer: RateLimiter,
        concurrency: int,
        finished: Queue[DeliveryOutcome | int | Withdrawn],
    ) -> None:
        self.gateway = gateway
        self.pacer = pacer
        self.concurrency = concurrency
        self._finished = finished
        self._cancelled_messages: set[int] = set()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop
        self._waiting: asyncio.Queue[ClaimedRecipient | None]
        # Pacing may wait on the database: in a thread of its own, never on the loop.
        self._pacing = ThreadPoolExecutor(1, thread_name_prefix="sms-pacing")
        # A daemon: interpreter exit must not wait on it.
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(),), name="sms-send", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def submit(self, claimed: list[ClaimedRecipient]) -> None:
        """Hand a claimed batch to the loop (safe from any thread)."""
        self._loop.call_soon_threadsafe(self._enqueue, claimed)

    def withdraw(self, message_ids: set[int]) -> None:
        """Send nothing more of these (cancelled) messages: each unsent recipient of them is
        reported as `Withdrawn`; requests already on the wire finish (safe from any thread)."""
        self._loop.call_soon_threadsafe(self._withdraw, message_ids)

    def stop(self) -> list[int]:
        """Take back what has not started, let requests on the wire finish; return those ids.

        When this returns, every outcome the loop will ever report is in `finished`.
        """
        if not self._thread.is_alive():
            return []
        unstarted = asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result()
        self._thread.join()
        self._pacing.shutdown()
        return unstarted

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiting = asyncio.Queue()
        workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        self._ready.set()
        try:
            await asyncio.gather(*workers)
        finally:
            await self.gateway.close()

    def _enqueue(self, claimed: list[ClaimedRecipient]) -> None:
        for item in claimed:
            self._waiting.put_nowait(item)

    def _withdraw(self, message_ids: set[int]) -> None:
        self._cancelled_messages.update(message_ids)
        keep = []
        while not self._waiting.empty():
            item = self._waiting.get_nowait()
            if item is not None and item.message_id in self._cancelled_messages:
                self._finished.put(Withdrawn(item.id, item.message_id))
            else:
                keep.append(item)
        for item in keep:
            self._waiting.put_nowait(item)

    async def _stop(self) -> list[int]:
        unstarted = []
        while not self._waiting.empty():
            item = self._waiting.get_nowait()
            if item is not None:
                unstarted.append(item.id)
        for _ in range(self.concurrency):
            self._waiting.put_nowait(None)
        return unstarted

    async def _work(self) -> None:
        while (item := await self._waiting.get()) is not None:
            try:
                if not isinstance(self.pacer, Unlimited):
                    delay = await self._loop.run_in_executor(self._pacing, self.pacer.reserve)
                    if delay > 0:
                        await asyncio.sleep(delay)
                outcome: DeliveryOutcome | int | Withdrawn
                if item.message_id in self._cancelled_messages:  # cancelled while paced
                    outcome = Withdrawn(item.id, item.message_id)
                else:
                    outcome = await attempt_delivery(self.gateway, item)
            except Exception:  # e.g. pacing could not reach the database: not sent, give back
                log.exception("recipient %s not attempted", item.id)
                outcome = item.id
            self._finished.put(outcome)


class Dispatcher:
    """Claims, hands claims to a SendingLoop, and records what comes back, until stopped."""

    def __init__(
        self,
        engine: Engine,
        settings: DispatcherSettings,
        gateway: GatewayClient,
        rate_limiter: RateLimiter | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.gateway = gateway
        self.rate_limiter = rate_limiter or rate_limiter_for(settings.rate_per_sec, engine)
        self.worker_id = worker_id or new_worker_id()
        self.delivered = 0
        self._stopping = threading.Event()
        self._doorbell = DoorbellListener.bind(engine)
        self._outcomes: list[DeliveryOutcome] = []
        self._not_attempted: list[int] = []
        self._withdrawn: list[Withdrawn] = []
        self._cancels_checked_at = 0.0
        self._first_outcome_at = 0.0
        self._last_claim_at = 0.0
        self._queue_emptied = False
        self._statistics_at = time.monotonic()  # the process refreshed them as it started
        # Not SimpleQueue: CPython 3.11's SimpleQueue.get(timeout=...) waits with no timeout
        # once a signal interrupts it past its deadline, so a SIGTERM then went unseen until
        # the next outcome came back, and the stop sent more than was on the wire.
        self._finished: Queue[DeliveryOutcome | int | Withdrawn] = Queue()
        self._session: Session

    def stop(self) -> None:
        """Stop claiming; `run` then finishes what it started and releases the rest."""
        self._stopping.set()
        if self._doorbell is not None:
            self._doorbell.wake()

    def run(self) -> None:
        sending = SendingLoop(
            self.gateway, self.rate_limiter, self.settings.concurrency, self._finished
        )
        with Session(self.engine) as self._session:
            sending.start()
            inflight: dict[int, int] = {}  # recipient id: message id
            try:
                self._loop(sending, inflight)
            finally:
                self._drain(sending, inflight)
                if self._doorbell is not None:
                    self._doorbell.close()

    def _loop(self, sending: SendingLoop, inflight: dict[int, int]) -> None:
        capacity = self.settings.concurrency * PREFETCH_PER_SENDER
        db_failures = 0
        while not self._stopping.is_set():
            nothing_due = False
            free = capacity - len(inflight)
            if (free >= capacity // 2 or not inflight) and self._may_claim():
                try:
                    claimed = self._claim(free)
                    db_failures = 0
                    nothing_due = not claimed
                    if claimed:
                        inflight.update((item.id, item.message_id) for item in claimed)
                        sending.submit(claimed)
                except SQLAlchemyError as exc:
                    self._session.rollback()
                    db_failures += 1
                    log.warning("dispatcher %s cannot claim: %s", self.worker_id, exc)
                    self._stopping.wait(min(5.0, 0.2 * 2**db_failures))
            if inflight:
                self._withdraw_cancelled(sending, inflight)
                self._collect(inflight, timeout=WAIT_SLICE_SECONDS)
            elif not nothing_due:
                self._stopping.wait(WAIT_SLICE_SECONDS)  # gathering: a claim comes soon
            self._flush(force=not inflight)
            # Sleep only when a claim found nothing: the last sends of a batch often finish
            # in the same slice, and idling then stalled a busy dispatcher for a poll interval.
            if nothing_due and not inflight:
                self._refresh_statistics_when_due()
                self._wait_for_work()

    def _may_claim(self) -> bool:
        return not self._queue_emptied or time.monotonic() - self._last_claim_at >= GATHER_SECONDS

    def _claim(self, free: int) -> list[ClaimedRecipient]:
        claimed = with_conflict_retry(
            self._session,
            partial(
                claim_due_recipients,
                self._session,
                self.worker_id,
                free,
                self.settings.lease_seconds,
            ),
        )
        self._last_claim_at = time.monotonic()
        self._queue_emptied = len(claimed) < free
        return claimed

    def _wait_for_work(self) -> None:
        """Until new work rings the doorbell, or the poll interval has passed."""
        if self._doorbell is not None:
            self._doorbell.wait(self.settings.poll_interval)
        else:
            self._stopping.wait(self.settings.poll_interval)

    def _refresh_statistics_when_due(self) -> None:
        """While idle, at most hourly: a long-running process sees its database grow."""
        if time.monotonic() - self._statistics_at < STATISTICS_INTERVAL_SECONDS:
            return
        self._statistics_at = time.monotonic()
        try:
            refresh_planner_statistics(self._session)
        except SQLAlchemyError as exc:
            self._session.rollback()
            log.warning("dispatcher %s cannot refresh statistics: %s", self.worker_id, exc)

    def _withdraw_cancelled(self, sending: SendingLoop, inflight: dict[int, int]) -> None:
        """Every CANCEL_CHECK_SECONDS while holding recipients: stop those of cancelled messages."""
        if time.monotonic() - self._cancels_checked_at < CANCEL_CHECK_SECONDS:
            return
        self._cancels_checked_at = time.monotonic()
        try:
            cancelled = cancelled_among(self._session, list(set(inflight.values())))
        except SQLAlchemyError as exc:
            self._session.rollback()
            log.warning("dispatcher %s cannot check for cancels: %s", self.worker_id, exc)
            return
        if cancelled:
            sending.withdraw(cancelled)

    def _collect(self, inflight: dict[int, int], timeout: float | None) -> None:
        """Take every finished outcome: wait for the first, then drain what else is ready."""
        try:
            outcome = self._finished.get(timeout=timeout)
        except Empty:
            return
        if not self._outcomes:
            self._first_outcome_at = time.monotonic()
        while True:
            if isinstance(outcome, int):
                inflight.pop(outcome, None)
                self._not_attempted.append(outcome)
            elif isinstance(outcome, Withdrawn):
                inflight.pop(outcome.recipient_id, None)
                self._withdrawn.append(outcome)
            else:
                inflight.pop(outcome.recipient_id, None)
                self._outcomes.append(outcome)
            try:
                outcome = self._finished.get_nowait()
            except Empty:
                return

    def _flush(self, force: bool = False) -> None:
        """Record finished attempts within FLUSH_WITHIN_SECONDS, in one transaction per batch.

        A crash forgets unrecorded results and those SMS are sent again, so a batch is also
        written once `concurrency` results wait: what a kill can repeat then stays near a few
        times the concurrency at any rate (docs/PERFORMANCE.md has the trade-off measured).
        """
        if self._not_attempted:
            not_attempted, self._not_attempted = self._not_attempted, []
            try:
                release_claims(self._session, self.worker_id, not_attempted)
            except SQLAlchemyError:
                self._session.rollback()  # their lease runs out and they come due again
        if self._withdrawn:
            withdrawn, self._withdrawn = self._withdrawn, []
            try:
                with_conflict_retry(
                    self._session,
                    lambda: cancel_held_recipients(
                        self._session,
                        self.worker_id,
                        [(w.recipient_id, w.message_id) for w in withdrawn],
                    ),
                )
            except SQLAlchemyError:
                self._session.rollback()  # cancelled when claimed again, after their lease
        if not self._outcomes:
            return
        waited = time.monotonic() - self._first_outcome_at
        enough = len(self._outcomes) >= self.settings.concurrency
        if not (force or waited >= FLUSH_WITHIN_SECONDS or enough):
            return
        batch, self._outcomes = self._outcomes, []
        try:
            self.delivered += with_conflict_retry(
                self._session, lambda: record_outcomes(self._session, self.worker_id, batch)
            )
        except SQLAlchemyError as exc:
            self._session.rollback()
            self._outcomes = batch + self._outcomes  # keep them; the database may come back
            log.warning(
                "dispatcher %s cannot record %d outcomes: %s", self.worker_id, len(batch), exc
            )
            time.sleep(0.5)

    def _drain(self, sending: SendingLoop, inflight: dict[int, int]) -> None:
        """On shutdown: release claims not yet started, wait for those on the wire, record all."""
        unstarted = sending.stop()  # the requests on the wire finish (bounded by timeouts)
        for recipient_id in unstarted:
            inflight.pop(recipient_id, None)
        self._collect(inflight, timeout=0)
        if inflight:  # only if the loop died: their leases run out and they come due again
            log.error(
                "dispatcher %s: %d recipients without an outcome", self.worker_id, len(inflight)
            )
        for _ in range(3):
            try:
                self._flush(force=True)
                release_claims(self._session, self.worker_id, unstarted)
                break
            except SQLAlchemyError:
                self._session.rollback()
                time.sleep(0.5)
