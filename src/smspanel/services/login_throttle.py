"""Failed-login counts and the lockout rule, shared by the web form, the API and the
two-factor code step, and by every process of a deployment.

The counts live in the database (`login_failures`) unless RATELIMIT_STORAGE_URI names a
store (`redis://…`, or `memory://` for a single process). An attempt takes its place in a
count *before* the password is checked and gives it back when it did not fail, with one
conditional UPDATE: concurrent guesses cannot overshoot a limit, so the counts are exact.

The lockout rule (`LoginThrottle.begin`): an address over its limit is refused outright.
An account whose count is full is refused too, except to an address with no failures in
the account's window: that address may try once more, up to twice the account's limit in
all. The owner, from their usual address, still gets in while someone else guesses; an
attacker gets at most the limit from one address, and twice it from any number.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import limits
from limits.storage import Storage, storage_from_string
from sqlalchemy import Engine, case, delete, insert, or_, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from smspanel.models import LoginFailureCount, utcnow
from smspanel.services.transactions import dialect_name, transaction, with_conflict_retry

ADDRESS = "address"  # every form's failures from one client address
FRESH_ADDRESS = "address-recent"  # the same, over the account's window: "no recent failures"
PURGE_INTERVAL_SECONDS = 60.0
SUBJECT_LENGTH = 200

_failures = LoginFailureCount.__table__


@dataclass(frozen=True)
class Limit:
    amount: int
    period: timedelta

    @classmethod
    def parse(cls, text: str) -> Limit:
        """`10 per 15 minutes`, `30/minute`: the notation of LOGIN_LIMIT_PER_*."""
        item = limits.parse(text)
        return cls(item.amount, timedelta(seconds=item.get_expiry()))


@dataclass(frozen=True)
class Place:
    """One attempt's place in a count, to give back if the attempt did not fail."""

    scope: str
    subject: str
    window: object  # which window it was taken in


@dataclass(frozen=True)
class Taken:
    place: Place | None  # None: the count was full
    retry_after: int = 0  # seconds until the full count's window ends
    count: int = 0  # the count after this attempt


class Counter(Protocol):
    def take(self, scope: str, subject: str, limit: Limit | None, period: timedelta) -> Taken:
        """Count one attempt in the window of `period`, unless `limit` is reached."""
        ...

    def give_back(self, place: Place) -> None: ...


T = TypeVar("T")


class FailureCounts(Counter, Protocol):
    def run(self, work: Callable[[Counter], T]) -> T:
        """Do `work`'s takes and give-backs together (one transaction in the database)."""
        ...

    def count(self, scope: str, subject: str, period: timedelta) -> int: ...

    def purge(self, before: datetime) -> int:
        """Forget windows that began before `before`."""
        ...


class RowCounter:
    """Takes and give-backs on `login_failures` rows, inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def take(self, scope: str, subject: str, limit: Limit | None, period: timedelta) -> Taken:
        session, subject, now = self.session, stored_subject(subject), utcnow()
        expired = _failures.c.window_started_at <= now - period
        row = (_failures.c.scope == scope, _failures.c.subject == subject)
        _ensure_row(session, scope, subject, now)
        statement = update(_failures).where(*row)
        if limit is not None:
            statement = statement.where(or_(expired, _failures.c.failures < limit.amount))
        # The count first: MySQL's SET sees the columns already assigned to its left.
        statement = statement.ordered_values(
            (_failures.c.failures, case((expired, 1), else_=_failures.c.failures + 1)),
            (
                _failures.c.window_started_at,
                case((expired, now), else_=_failures.c.window_started_at),
            ),
        )
        counted = session.execute(statement).rowcount == 1  # type: ignore[attr-defined]
        started, failures = session.execute(
            select(_failures.c.window_started_at, _failures.c.failures).where(*row)
        ).one()
        if counted:
            return Taken(Place(scope, subject, started), count=failures)
        return Taken(None, _seconds_until(started + period, now), failures)

    def give_back(self, place: Place) -> None:
        self.session.execute(
            update(_failures)
            .where(
                _failures.c.scope == place.scope,
                _failures.c.subject == place.subject,
                _failures.c.window_started_at == place.window,
                _failures.c.failures > 0,
            )
            .values(failures=_failures.c.failures - 1)
        )


class DatabaseCounts:
    """Counts in `login_failures`: one row per (scope, subject), its window and failures.

    Every transaction locks an attempt's rows in the same order (address, recent address,
    account), so two attempts never deadlock; a lost race on a server is run again."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, work: Callable[[Counter], T]) -> T:
        def in_transaction(session: Session) -> T:
            with transaction(session, write=True):
                return work(RowCounter(session))

        with Session(self.engine) as session:
            return with_conflict_retry(session, lambda: in_transaction(session))

    def take(self, scope: str, subject: str, limit: Limit | None, period: timedelta) -> Taken:
        return self.run(lambda counter: counter.take(scope, subject, limit, period))

    def give_back(self, place: Place) -> None:
        self.run(lambda counter: counter.give_back(place))

    def count(self, scope: str, subject: str, period: timedelta) -> int:
        with Session(self.engine) as session:
            failures = session.scalar(
                select(_failures.c.failures).where(
                    _failures.c.scope == scope,
                    _failures.c.subject == stored_subject(subject),
                    _failures.c.window_started_at > utcnow() - period,
                )
            )
        return int(failures or 0)

    def purge(self, before: datetime) -> int:
        with Session(self.engine) as session, transaction(session):
            result = session.execute(
                delete(_failures).where(_failures.c.window_started_at < before)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def stored_subject(subject: str) -> str:
    """The subject as a key every database can hold: a name with control characters (NUL is
    refused by PostgreSQL), lone surrogates or too long for the column becomes its hash."""
    if subject.isprintable() and len(subject) <= SUBJECT_LENGTH:
        return subject
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest}"


def _ensure_row(session: Session, scope: str, subject: str, now: datetime) -> None:
    """Insert the row unless it is there: of concurrent first failures one inserts it and
    the others find it (as services/quotas.py does for a month's usage)."""
    values = {"scope": scope, "subject": subject, "window_started_at": now, "failures": 0}
    dialect = dialect_name(session)
    if dialect == "postgresql":
        session.execute(postgresql_insert(_failures).values(values).on_conflict_do_nothing())
    elif dialect in ("mysql", "mariadb"):
        # Not INSERT IGNORE: that takes a shared lock on a duplicate, and two attempts
        # holding it would deadlock on their UPDATEs. This takes the exclusive lock.
        session.execute(
            mysql_insert(_failures).values(values).on_duplicate_key_update(scope=_failures.c.scope)
        )
    elif dialect == "sqlite":
        session.execute(sqlite_insert(_failures).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - the three databases above are the supported ones
        session.execute(insert(_failures).values(values))


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


class StoreCounts:
    """Counts in a `limits` store (RATELIMIT_STORAGE_URI): Redis, Memcached, memory."""

    def __init__(self, uri: str) -> None:
        storage = storage_from_string(uri)
        if not isinstance(storage, Storage):
            raise ValueError(f"RATELIMIT_STORAGE_URI={uri!r} names an asyncio store")
        self.storage = storage

    @staticmethod
    def _key(scope: str, subject: str) -> str:
        return f"smspanel/login-failures/{scope}/{stored_subject(subject)}"

    def take(self, scope: str, subject: str, limit: Limit | None, period: timedelta) -> Taken:
        key = self._key(scope, subject)
        seconds = max(1, int(period.total_seconds()))
        counted = self.storage.incr(key, seconds)  # atomic: exactly `limit` callers fit
        if limit is not None and counted > limit.amount:
            self.storage.incr(key, seconds, amount=-1)
            retry_after = max(1, math.ceil(self.storage.get_expiry(key) - time.time()))
            return Taken(None, retry_after, limit.amount)
        return Taken(Place(scope, subject, None), count=counted)

    def give_back(self, place: Place) -> None:
        key = self._key(place.scope, place.subject)
        if self.storage.get(key) > 0:
            self.storage.incr(key, 1, amount=-1)

    def run(self, work: Callable[[Counter], T]) -> T:
        return work(self)  # each step is atomic in the store; there is no transaction

    def count(self, scope: str, subject: str, period: timedelta) -> int:
        return int(self.storage.get(self._key(scope, subject)))

    def purge(self, before: datetime) -> int:
        return 0  # the store expires its keys itself


def counts_for(storage_uri: str | None, engine: Callable[[], Engine]) -> FailureCounts:
    return StoreCounts(storage_uri) if storage_uri else DatabaseCounts(engine())


@dataclass
class Attempt:
    """A login attempt let through holds a place in each count it is part of: `failed`
    keeps them, `succeeded` gives them back. A refused one holds none."""

    throttle: LoginThrottle
    places: list[Place] = field(default_factory=list)
    retry_after: int = 0

    @property
    def refused(self) -> bool:
        return self.retry_after > 0

    def failed(self) -> None:
        self.throttle.purge_if_due()

    def succeeded(self) -> None:
        places, self.places = self.places, []
        if places:
            self.throttle.counts.run(lambda counter: _give_back(counter, places))


def _give_back(counter: Counter, places: list[Place]) -> None:
    for place in places:  # in the order taken: the order every transaction locks them in
        counter.give_back(place)


class LoginThrottle:
    """The limits LOGIN_LIMIT_PER_ACCOUNT and LOGIN_LIMIT_PER_ADDRESS over one set of counts."""

    def __init__(self, counts: FailureCounts, per_account: Limit, per_address: Limit) -> None:
        self.counts = counts
        self.per_account = per_account
        self.per_address = per_address
        self._last_purge = 0.0
        self._purge_lock = threading.Lock()

    def begin(self, scope: str, account: str, address: str) -> Attempt:
        """Take the attempt's places in the address's and the account's counts (`scope`
        keeps the password, the login code and enrolment apart), or refuse it.

        Places are taken before the attempt is checked, so attempts in flight at once are
        counted as if each had failed: no limit can be overshot by concurrency."""
        return self.counts.run(lambda counter: self._begin(counter, scope, account, address))

    def _begin(self, counter: Counter, scope: str, account: str, address: str) -> Attempt:
        attempt = Attempt(self)
        window = self.per_account.period

        def refuse(retry_after: int) -> Attempt:
            _give_back(counter, attempt.places)  # nothing was tried
            attempt.places, attempt.retry_after = [], retry_after
            return attempt

        by_address = counter.take(ADDRESS, address, self.per_address, self.per_address.period)
        if by_address.place is None:
            return refuse(by_address.retry_after)
        attempt.places.append(by_address.place)
        recent = counter.take(FRESH_ADDRESS, address, None, window)
        assert recent.place is not None  # no limit: always counted
        attempt.places.append(recent.place)
        by_account = counter.take(scope, account, self.per_account, window)
        if by_account.place is not None:
            attempt.places.append(by_account.place)
            return attempt
        # The account is full. An address without recent failures (or attempts in flight)
        # may still try, up to twice the account's limit in all.
        if recent.count > 1:
            return refuse(by_account.retry_after)
        ceiling = Limit(2 * self.per_account.amount, window)
        beyond = counter.take(scope, account, ceiling, window)
        if beyond.place is None:
            return refuse(beyond.retry_after)
        attempt.places.append(beyond.place)
        return attempt

    def purge_if_due(self) -> None:
        """Old windows go at most once a minute per process."""
        with self._purge_lock:
            if time.monotonic() - self._last_purge < PURGE_INTERVAL_SECONDS:
                return
            self._last_purge = time.monotonic()
        longest = max(self.per_account.period, self.per_address.period)
        self.counts.purge(utcnow() - longest)
