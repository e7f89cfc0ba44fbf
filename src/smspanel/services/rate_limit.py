"""Pacing of gateway requests (`SMS_RATE_PER_SEC`)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until one more request may go out."""
        ...


class Unlimited:
    def acquire(self) -> None:
        return None


class EvenPacer:
    """Spaces requests evenly at `rate` per second across all threads of this process."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)


def rate_limiter_for(rate_per_sec: float) -> RateLimiter:
    return EvenPacer(rate_per_sec) if rate_per_sec > 0 else Unlimited()
