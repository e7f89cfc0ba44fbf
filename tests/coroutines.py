"""Running a coroutine from a test, whatever else the test process is running.

Playwright's sync API keeps an event loop running on the main thread once a browser test
has started one, and `asyncio.run` refuses to start a second there: the coroutine gets a
thread and a loop of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_to_completion(coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    with ThreadPoolExecutor(1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout)
