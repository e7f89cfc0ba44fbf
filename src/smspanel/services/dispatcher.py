"""The dispatcher: claims due recipients, sends them concurrently, records the outcomes."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from queue import Empty, SimpleQueue
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from smspanel.models import db
from smspanel.services.delivery import attempt_delivery
from smspanel.services.gateway import GatewayClient, gateway_from_config
from smspanel.services.queue import (
    ClaimedRecipient,
    DeliveryOutcome,
    claim_due_recipients,
    record_outcomes,
    release_claims,
    work_available,
)
from smspanel.services.rate_limit import RateLimiter, rate_limiter_for
from smspanel.services.transactions import with_conflict_retry

log = logging.getLogger(__name__)

WAIT_SLICE_SECONDS = 0.01
FLUSH_WITHIN_SECONDS = 0.01
FLUSH_AT_OUTCOMES = 256


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Dispatcher:
    """Runs in one thread; only that thread touches the database, senders only do HTTP."""

    def __init__(
        self,
        app: Any,
        gateway: GatewayClient | None = None,
        rate_limiter: RateLimiter | None = None,
        worker_id: str | None = None,
    ) -> None:
        config = app.config
        self.app = app
        self.gateway = gateway or gateway_from_config(config)
        self._rate_limiter = rate_limiter
        self.worker_id = worker_id or new_worker_id()
        self.concurrency: int = config["SMS_WORKER_CONCURRENCY"]
        self.lease_seconds: float = config["SMS_CLAIM_LEASE_SECONDS"]
        self.poll_interval: float = config["SMS_POLL_INTERVAL"]
        self._stopping = threading.Event()
        self._outcomes: list[DeliveryOutcome] = []
        self._first_outcome_at = 0.0
        self._finished: SimpleQueue[DeliveryOutcome] = SimpleQueue()
        self.delivered = 0
        self._session: Session
        self.rate_limiter: RateLimiter

    def stop(self) -> None:
        """Stop claiming; `run` then finishes what it started and releases the rest."""
        self._stopping.set()
        work_available.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        with self.app.app_context():
            self._session = db.session()  # this thread's own session, used for every query
            self.rate_limiter = self._rate_limiter or rate_limiter_for(
                self.app.config["SMS_RATE_PER_SEC"], db.engine
            )
            executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sms-send")
            inflight: dict[int, Future[None]] = {}
            try:
                self._loop(executor, inflight)
            finally:
                self._drain(executor, inflight)
                db.session.remove()

    def _loop(self, executor: ThreadPoolExecutor, inflight: dict[int, Future[None]]) -> None:
        capacity = self.concurrency * 2  # a little prefetch keeps every sender busy
        db_failures = 0
        while not self._stopping.is_set():
            claimed: list[ClaimedRecipient] = []
            free = capacity - len(inflight)
            if free >= max(1, self.concurrency // 2) or not inflight:
                try:
                    claimed = with_conflict_retry(
                        self._session,
                        partial(
                            claim_due_recipients,
                            self._session,
                            self.worker_id,
                            free,
                            self.lease_seconds,
                        ),
                    )
                    db_failures = 0
                except SQLAlchemyError as exc:
                    self._session.rollback()
                    db_failures += 1
                    log.warning("dispatcher %s cannot claim: %s", self.worker_id, exc)
                    self._stopping.wait(min(5.0, 0.2 * 2**db_failures))
                for item in claimed:
                    inflight[item.id] = executor.submit(self._send, item)
            if inflight:
                self._collect(inflight, timeout=WAIT_SLICE_SECONDS)
            self._flush(force=not inflight)
            if not inflight and not claimed:
                work_available.wait(self.poll_interval)
                work_available.clear()

    def _send(self, item: ClaimedRecipient) -> None:
        """Runs in a sender thread: one attempt, its outcome handed back through the queue."""
        self._finished.put(self._deliver(item))

    def _collect(self, inflight: dict[int, Future[None]], timeout: float | None) -> None:
        """Take every finished outcome: wait for the first, then drain what else is ready."""
        try:
            outcome = self._finished.get(timeout=timeout)
        except Empty:
            return
        if not self._outcomes:
            self._first_outcome_at = time.monotonic()
        while True:
            inflight.pop(outcome.recipient_id, None)
            self._outcomes.append(outcome)
            try:
                outcome = self._finished.get_nowait()
            except Empty:
                return

    def _deliver(self, item: ClaimedRecipient) -> DeliveryOutcome:
        self.rate_limiter.acquire()
        return attempt_delivery(self.gateway, item)

    def _flush(self, force: bool = False) -> None:
        """Record finished attempts within FLUSH_WITHIN_SECONDS, in one transaction per batch.

        The delay is kept short because a crash forgets unrecorded results, and those SMS
        are sent again; it is long enough that busy dispatchers write hundreds per batch.
        """
        if not self._outcomes:
            return
        waited = time.monotonic() - self._first_outcome_at
        if not (
            force or waited >= FLUSH_WITHIN_SECONDS or len(self._outcomes) >= FLUSH_AT_OUTCOMES
        ):
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

    def _drain(self, executor: ThreadPoolExecutor, inflight: dict[int, Future[None]]) -> None:
        """On shutdown: release claims not yet started, wait for those on the wire, record all."""
        unstarted = [rid for rid, future in inflight.items() if future.cancel()]
        for rid in unstarted:
            del inflight[rid]
        executor.shutdown(wait=True)  # the requests on the wire finish (bounded by timeouts)
        while inflight:
            self._collect(inflight, timeout=None)
        for _ in range(3):
            try:
                self._flush(force=True)
                release_claims(self._session, self.worker_id, unstarted)
                break
            except SQLAlchemyError:
                self._session.rollback()
                time.sleep(0.5)
        self.gateway.close()
