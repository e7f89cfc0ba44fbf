"""Sending webhook deliveries: a thread of the dispatcher process, out of SMS delivery's way.

`WebhookSender` runs its own asyncio loop (aiohttp) and its own database session in a
thread beside the dispatcher's, so a receiver that hangs or answers 500 forever never holds
up a recipient's send; and it holds at most `PER_WEBHOOK` of the sender's `CONCURRENCY`
slots, so it never holds up the other users' events either. About every
`POLL_SECONDS` it packs the outbox when a pack is due (`packing.py`), then claims due
deliveries under a lease (`lease_owner`, `lease_until`; `next_attempt_at` holds the lease's
end, so a killed dispatcher's deliveries come due again) in a short transaction
(`FOR UPDATE SKIP LOCKED` on the servers, SQLite's write lock), POSTs them outside every
transaction, and records the results only for rows it still owns.

Each POST: the webhook's URL and secret are read when the delivery is claimed for this
attempt (a rotated secret signs the next attempt); the destination is checked again
(`destinations.py`: the URL's form and every address its host resolves to), and aiohttp
connects only through `CheckingResolver`, which checks the addresses it is given, so a name
re-pointed between the check and the connection (DNS rebinding) still reaches no refused
address. The body is the stored payload, byte for byte, signed with
`X-Smspanel-Signature`; redirects are never followed (a 3xx fails as "redirect refused");
the whole attempt has `POST_TIMEOUT_SECONDS`. A 2xx delivers; anything else is retried
after `retry_delay` (10 s doubling to 1 h, with jitter) while the next attempt falls within
`retry_until` (24 h after the event), and then the delivery is `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from smspanel.models import Webhook, WebhookDelivery, WebhookDeliveryStatus, utcnow
from smspanel.services import telemetry
from smspanel.services.transactions import begin_write, locks_rows, transaction
from smspanel.services.webhooks.destinations import (
    Destination,
    RefusedDestination,
    parse_destination,
    resolve_destination,
)
from smspanel.services.webhooks.packing import pack_due, pack_outbox
from smspanel.services.webhooks.signing import SIGNATURE_HEADER, signature

log = logging.getLogger(__name__)

CONCURRENCY = 8  # POSTs in flight at once, per dispatcher process
PER_WEBHOOK = 2  # of them at most to one user's webhook: a hanging receiver holds two slots
CANDIDATES_PER_SLOT = 4  # due rows a claim looks at per free slot, to find other users'
POST_TIMEOUT_SECONDS = 10.0  # one whole attempt: the address check, connecting, the answer
FIRST_RETRY_SECONDS = 10.0
MAX_RETRY_SECONDS = 3600.0
JITTER = 0.2  # each delay is drawn within ±20% of its step, so retries do not march in step
POLL_SECONDS = 0.25
IDLE_POLL_SECONDS = 1.0  # after IDLE_AFTER_SECONDS without work
IDLE_AFTER_SECONDS = 5.0
ERROR_LIMIT = 500
USER_AGENT = "smspanel-webhooks"
REDIRECT_REFUSED = "redirect refused"
WEBHOOK_GONE = "the webhook was removed"

_deliveries = WebhookDelivery.__table__


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 10 s, 20 s, 40 s, … 1 h."""
    step = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0))
    return min(MAX_RETRY_SECONDS, step * random.uniform(1 - JITTER, 1 + JITTER))


# --- the queue: claims, results, handing back ------------------------------------------------


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    user_id: int
    event_id: str
    payload: str
    attempts: int
    retry_until: datetime
    url: str | None  # None: the user's webhook is gone
    secret: str | None


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: int
    delivered: bool
    finished_at: datetime
    status_code: int | None = None
    error: str | None = None
    give_up: bool = False  # no later attempt can succeed (the webhook is gone)


_ANY_DUE = (
    select(_deliveries.c.id)
    .where(
        _deliveries.c.status == WebhookDeliveryStatus.PENDING,
        _deliveries.c.next_attempt_at <= bindparam("now"),
    )
    .limit(1)
)


def claim_due_deliveries(
    session: Session,
    owner: str,
    limit: int,
    lease_seconds: float,
    in_flight: Mapping[int, int] | None = None,
    per_webhook: int = PER_WEBHOOK,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due deliveries to `owner`, oldest due first, in one transaction;
    at most `per_webhook` of one user's at once, counting `in_flight` (user id: POSTs of
    theirs already on the wire), so one receiver that hangs holds only its own slots."""
    in_flight = in_flight or {}
    now = utcnow()
    with transaction(session):
        # A read first: an idle sender's look for work takes no write lock.
        if session.scalar(_ANY_DUE, {"now": now}) is None:
            return []
        begin_write(session)
        full = sorted(user for user, n in in_flight.items() if n >= per_webhook)
        query = (
            select(_deliveries.c.id, _deliveries.c.user_id)
            .where(
                _deliveries.c.status == WebhookDeliveryStatus.PENDING,
                _deliveries.c.next_attempt_at <= now,
                *([_deliveries.c.user_id.not_in(full)] if full else []),
            )
            .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id)
            .limit(limit * CANDIDATES_PER_SLOT)
        )
        if locks_rows(session):
            query = query.with_for_update(skip_locked=True)
        taken: Counter[int] = Counter(in_flight)
        ids = []
        for candidate in session.execute(query):
            if taken[candidate.user_id] < per_webhook:
                taken[candidate.user_id] += 1
                ids.append(candidate.id)
                if len(ids) == limit:
                    break
        if not ids:
            return []
        lease_end = now + timedelta(seconds=lease_seconds)
        session.execute(
            update(_deliveries)
            .where(_deliveries.c.id.in_(ids))
            .values(lease_owner=owner, lease_until=lease_end, next_attempt_at=lease_end)
        )
        rows = session.execute(
            select(
                _deliveries.c.id,
                _deliveries.c.user_id,
                _deliveries.c.event_id,
                _deliveries.c.payload,
                _deliveries.c.attempts,
                _deliveries.c.retry_until,
                Webhook.url,
                Webhook.secret,
            )
            .outerjoin(Webhook, Webhook.user_id == _deliveries.c.user_id)
            .where(_deliveries.c.id.in_(ids))
            .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id)
        ).all()
    return [ClaimedDelivery(*row) for row in rows]


_RECORD_ATTEMPT = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("did"),
        _deliveries.c.lease_owner == bindparam("owner"),
        _deliveries.c.status == WebhookDeliveryStatus.PENDING,
    )
    .values(
        status=bindparam("new_status"),
        attempts=_deliveries.c.attempts + 1,
        next_attempt_at=bindparam("new_next_attempt_at"),
        lease_owner=None,
        lease_until=None,
        last_status_code=bindparam("new_status_code"),
        last_error=bindparam("new_error"),
        updated_at=bindparam("new_updated_at"),
        delivered_at=bindparam("new_delivered_at"),
    )
)


def finish_deliveries(
    session: Session,
    owner: str,
    claimed: dict[int, ClaimedDelivery],
    results: Sequence[AttemptResult],
) -> None:
    """Record attempts on the rows `owner` still holds: delivered; due again after
    `retry_delay`; or failed once the next attempt would fall after `retry_until`."""
    if not results:
        return
    rows = []
    for result in sorted(results, key=lambda r: r.delivery_id):
        delivery = claimed[result.delivery_id]
        status, next_at = WebhookDeliveryStatus.DELIVERED, result.finished_at
        if not result.delivered:
            next_at = result.finished_at + timedelta(seconds=retry_delay(delivery.attempts + 1))
            if result.give_up or next_at > delivery.retry_until:
                status, next_at = WebhookDeliveryStatus.FAILED, result.finished_at
            else:
                status = WebhookDeliveryStatus.PENDING
        rows.append(
            {
                "did": result.delivery_id,
                "owner": owner,
                "new_status": status,
                "new_next_attempt_at": next_at,
                "new_status_code": result.status_code,
                "new_error": result.error[:ERROR_LIMIT] if result.error else None,
                "new_updated_at": result.finished_at,
                "new_delivered_at": result.finished_at if result.delivered else None,
            }
        )
        if status == WebhookDeliveryStatus.FAILED:
            log.warning(
                "webhook event %s failed for good after %d attempt(s): %s",
                delivery.event_id,
                delivery.attempts + 1,
                result.error,
            )
    outcomes = {"delivered": 0, "retried": 0, "failed": 0}
    for row in rows:
        ended = str(row["new_status"])
        outcomes["retried" if ended == WebhookDeliveryStatus.PENDING else ended] += 1
    with transaction(session, write=True):
        session.execute(_RECORD_ATTEMPT, rows)
        telemetry.count_webhook_attempts_after_commit(session, outcomes)


def release_deliveries(session: Session, owner: str, delivery_ids: Sequence[int]) -> None:
    """Hand unstarted deliveries back, due now, for any sender to take."""
    if not delivery_ids:
        return
    now = utcnow()
    with transaction(session, write=True):
        session.execute(
            update(_deliveries)
            .where(
                _deliveries.c.id.in_(sorted(delivery_ids)),
                _deliveries.c.lease_owner == owner,
                _deliveries.c.status == WebhookDeliveryStatus.PENDING,
            )
            .values(lease_owner=None, lease_until=None, next_attempt_at=now)
        )


# --- one POST ---------------------------------------------------------------------------------


class CheckingResolver(AbstractResolver):
    """aiohttp's resolver for webhooks: a name's addresses are checked before any connection,
    and only the checked ones are returned to connect to."""

    def __init__(self, allow_private: bool, executor: ThreadPoolExecutor) -> None:
        self.allow_private = allow_private
        self._executor = executor

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        destination = Destination(url="", host=host, port=port, https=False)
        addresses = await asyncio.get_running_loop().run_in_executor(
            self._executor, resolve_destination, destination, self.allow_private
        )
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass


def new_http_client(
    allow_private: bool, lookups: ThreadPoolExecutor, limit: int = CONCURRENCY
) -> aiohttp.ClientSession:
    """The HTTP client for webhooks, made inside the loop that uses it: names resolved only
    through `CheckingResolver`, never cached, no proxies from the environment (a proxy
    would connect where the checks cannot see)."""
    connector = aiohttp.TCPConnector(
        resolver=CheckingResolver(allow_private, lookups), use_dns_cache=False, limit=limit
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False)


async def post_delivery(
    http: aiohttp.ClientSession,
    delivery: ClaimedDelivery,
    allow_private: bool,
    executor: ThreadPoolExecutor,
    timeout: float = POST_TIMEOUT_SECONDS,
) -> AttemptResult:
    """One attempt at one delivery; never raises for what the receiver or the network does."""

    def result(delivered: bool, status: int | None = None, error: str | None = None, **kw: Any):
        return AttemptResult(delivery.id, delivered, utcnow(), status, error, **kw)

    if delivery.url is None or delivery.secret is None:
        return result(False, error=WEBHOOK_GONE, give_up=True)
    try:
        async with asyncio.timeout(timeout):
            destination = parse_destination(delivery.url, allow_private)
            await asyncio.get_running_loop().run_in_executor(
                executor, resolve_destination, destination, allow_private
            )
            body = delivery.payload.encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: signature(delivery.secret, int(time.time()), body),
            }
            async with http.post(
                destination.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                answer = await response.content.read(200)
                location = response.headers.get("Location", "")
    except RefusedDestination as exc:
        return result(False, error=f"refused: {exc}")
    except TimeoutError:
        return result(False, error=f"no answer within {timeout:g} s")
    except aiohttp.ClientError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, RefusedDestination) else exc
        return result(False, error=f"{type(cause).__name__}: {cause}")
    except OSError as exc:
        return result(False, error=f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return result(True, status)
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return result(False, status, f"{REDIRECT_REFUSED}: HTTP {status}{where}")
    text = answer.decode("utf-8", errors="replace").strip()
    return result(False, status, f"HTTP {status}" + (f": {text}" if text else ""))


# --- the thread -------------------------------------------------------------------------------

T = TypeVar("T")


class WebhookSender:
    """Packs and sends webhook events in a thread of its own until stopped.

    `stop` lets the POSTs on the wire finish (each within `POST_TIMEOUT_SECONDS`), records
    them, and hands back anything claimed but not started.
    """

    def __init__(
        self,
        engine: Engine,
        owner: str,
        *,
        allow_private: bool = False,
        lease_seconds: float = 60.0,
        concurrency: int = CONCURRENCY,
        per_webhook: int = PER_WEBHOOK,
        timeout: float = POST_TIMEOUT_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.allow_private = allow_private
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.per_webhook = per_webhook
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.delivered = 0
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        # One thread for the database (its session is used there alone), others for lookups.
        self._database = ThreadPoolExecutor(1, thread_name_prefix="webhook-db")
        self._lookups = ThreadPoolExecutor(concurrency, thread_name_prefix="webhook-dns")
        self._session = Session(engine)
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(),), name="webhook-send", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the sender to stop (safe from any thread, signal handlers included)."""
        self._stopping.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(wake.set)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to finish; whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    async def _db(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._database, work, self._session, *args)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stopping.is_set():
            self._wake.set()
        claimed: dict[int, ClaimedDelivery] = {}
        tasks: set[asyncio.Task[AttemptResult]] = set()
        results: list[AttemptResult] = []
        try:
            async with new_http_client(self.allow_private, self._lookups, self.concurrency) as http:
                await self._run(http, claimed, tasks, results)
                # Stopping: the POSTs on the wire finish (bounded by the timeout) and count.
                if tasks:
                    done, _ = await asyncio.wait(tasks)
                    results.extend(task.result() for task in done)
            for _ in range(3):
                try:
                    await self._finish(claimed, results)
                    break
                except SQLAlchemyError as exc:
                    log.warning("webhook sender cannot record results: %s", exc)
                    await asyncio.sleep(0.5)
        finally:
            self._database.submit(self._session.close).result()
            self._database.shutdown()
            self._lookups.shutdown(wait=False)

    async def _run(
        self,
        http: aiohttp.ClientSession,
        claimed: dict[int, ClaimedDelivery],
        tasks: set[asyncio.Task[AttemptResult]],
        results: list[AttemptResult],
    ) -> None:
        assert self._wake is not None
        failures = 0
        packs_checked_at = worked_at = 0.0
        while not self._stopping.is_set():
            # Every poll, not on every answer: a busy sender wakes far more often.
            pack = time.monotonic() - packs_checked_at >= self.poll_seconds
            if pack:
                packs_checked_at = time.monotonic()
            batch = list(results)
            try:
                fresh, packed = await self._db(
                    self._database_round,
                    pack,
                    self.concurrency - len(tasks),
                    Counter(d.user_id for d in claimed.values()),
                    batch,
                    {r.delivery_id: claimed[r.delivery_id] for r in batch},
                )
                failures = 0
            except SQLAlchemyError as exc:
                failures += 1
                await self._db(Session.rollback)
                log.warning("webhook sender cannot reach the database: %s", exc)
                await self._sleep(min(5.0, 0.2 * 2**failures))
                continue
            except Exception:  # a bug must not end webhooks for the life of the process
                log.exception("webhook sender")
                await self._sleep(1.0)
                continue
            del results[: len(batch)]
            self.delivered += sum(1 for r in batch if r.delivered)
            for result in batch:
                claimed.pop(result.delivery_id, None)
            # On the wire still (its lease ran out and was renewed): left to its POST.
            for delivery in (d for d in fresh if d.id not in claimed):
                claimed[delivery.id] = delivery
                tasks.add(asyncio.create_task(self._attempt(http, delivery)))
            if tasks or fresh or packed or batch:
                worked_at = time.monotonic()
            # Idle for a while: look less often (a send's first events then wait a second
            # more, about two in all); busy: every poll.
            recently = time.monotonic() - worked_at < IDLE_AFTER_SECONDS
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
            await asyncio.wait(
                waiters | tasks,
                timeout=self.poll_seconds if recently else IDLE_POLL_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for waiter in waiters:
                waiter.cancel()
            for task in [t for t in tasks if t.done()]:
                tasks.discard(task)
                results.append(task.result())

    def _database_round(
        self,
        session: Session,
        pack: bool,
        free: int,
        in_flight: Counter[int],
        results: list[AttemptResult],
        held: dict[int, ClaimedDelivery],
    ) -> tuple[list[ClaimedDelivery], bool]:
        """One hop to the database thread: record the answers, pack if due, claim what the
        free slots can take; the claimed deliveries, and whether anything was packed."""
        finish_deliveries(session, self.owner, held, results)
        for result in results:
            in_flight[held[result.delivery_id].user_id] -= 1
        packed = bool(pack and pack_due(session) and pack_outbox(session))
        fresh: list[ClaimedDelivery] = []
        if free > 0:
            fresh = claim_due_deliveries(
                session, self.owner, free, self.lease_seconds, in_flight, self.per_webhook
            )
            if self._stopping.is_set():  # asked to stop meanwhile: not started, handed back
                release_deliveries(session, self.owner, [d.id for d in fresh])
                fresh = []
        return fresh, packed

    async def _attempt(
        self, http: aiohttp.ClientSession, delivery: ClaimedDelivery
    ) -> AttemptResult:
        try:
            return await post_delivery(
                http, delivery, self.allow_private, self._lookups, self.timeout
            )
        except Exception as exc:  # a bug: the attempt fails visibly and is retried
            log.exception("webhook delivery %s", delivery.id)
            return AttemptResult(delivery.id, False, utcnow(), error=f"internal error: {exc}")

    async def _finish(
        self, claimed: dict[int, ClaimedDelivery], results: list[AttemptResult]
    ) -> None:
        """On stopping: record the last answers."""
        held = {r.delivery_id: claimed[r.delivery_id] for r in results}
        await self._db(finish_deliveries, self.owner, held, results)
        self.delivered += sum(1 for r in results if r.delivered)
        results.clear()

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
