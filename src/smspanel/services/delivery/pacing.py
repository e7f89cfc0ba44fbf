"""Pacing of gateway requests (`SMS_RATE_PER_SEC`), shared by every dispatcher on a database.

The schedule lives in one row (`gateway_pacing.next_slot_at`). A dispatcher reserves a short
block of evenly spaced send times under a row lock, hands them to its sending loop, and
throws away any it did not use in time, so the rate holds across all processes together.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smspanel.models import GatewayPacing, utcnow
from smspanel.services.transactions import locks_rows, transaction, with_conflict_retry

PACING_ROW_ID = 1
BLOCK_SECONDS = 0.2  # how far ahead one reservation reaches
STALE_SLOT = timedelta(milliseconds=50)


class RateLimiter(Protocol):
    def reserve(self) -> float:
        """Take the next send time and return the seconds until it (without sleeping)."""
        ...


class Unlimited:
    def reserve(self) -> float:
        return 0.0


class SharedPacer:
    """At most `rate` requests per second across every process sharing the database."""

    def __init__(self, engine: Engine, rate: float, max_block: int = 64) -> None:
        self.engine = engine
        self.interval = 1.0 / rate
        self.block = max(1, min(max_block, math.ceil(rate * BLOCK_SECONDS)))
        self._slots: deque[datetime] = deque()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """May block briefly on the database when a new block of send times is needed."""
        with self._lock:
            now = utcnow()
            while self._slots and self._slots[0] < now - STALE_SLOT:
                self._slots.popleft()  # unused in time: sending now would bunch up
            if not self._slots:
                self._slots.extend(self._reserve_block(self.block))
            slot = self._slots.popleft()
        return (slot - utcnow()).total_seconds()

    def _reserve_block(self, count: int) -> list[datetime]:
        with Session(self.engine) as session:
            first = with_conflict_retry(session, lambda: self._reserve_in(session, count))
        return [first + timedelta(seconds=i * self.interval) for i in range(count)]

    def _reserve_in(self, session: Session, count: int) -> datetime:
        now = utcnow()
        with transaction(session, write=True):
            query = select(GatewayPacing.next_slot_at).where(GatewayPacing.id == PACING_ROW_ID)
            if locks_rows(session):
                query = query.with_for_update()
            next_slot = session.scalar(query)
            if next_slot is not None:
                first = max(now, next_slot)
                session.execute(
                    update(GatewayPacing)
                    .where(GatewayPacing.id == PACING_ROW_ID)
                    .values(next_slot_at=first + timedelta(seconds=count * self.interval))
                )
                return first
        try:  # the first reservation ever: make the row (another process may make it first)
            with transaction(session):
                session.execute(insert(GatewayPacing).values(id=PACING_ROW_ID, next_slot_at=now))
        except IntegrityError:
            pass
        return self._reserve_in(session, count)


def rate_limiter_for(rate_per_sec: float, engine: Engine) -> RateLimiter:
    return SharedPacer(engine, rate_per_sec) if rate_per_sec > 0 else Unlimited()
