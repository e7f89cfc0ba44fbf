"""When a failed attempt is tried again: the spec's 3 attempts, 2 s then 4 s (capped at 10 s),
and only after transport errors (no HTTP answer). A gateway that answers, even with an
error, is not asked again: it has decided.

The queue does the waiting (`next_attempt_at`), not a sleeping thread, so a backoff never
holds up other sends and survives a restart; tenacity only says how long.
"""

from __future__ import annotations

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from smspanel.services.delivery.gateway import GatewayTransportError

RETRY_POLICY = Retrying(
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=2, min=2, max=10),  # 2 s, then 4 s
    retry=retry_if_exception_type(GatewayTransportError),
    reraise=True,
)


def retry_delay(attempt_number: int, error: BaseException) -> float | None:
    """Seconds to wait before the next attempt, or None once the policy gives up."""
    state = RetryCallState(RETRY_POLICY, fn=None, args=(), kwargs={})
    state.attempt_number = attempt_number
    state.set_exception((type(error), error, error.__traceback__))
    if not RETRY_POLICY.retry(state) or RETRY_POLICY.stop(state):
        return None
    assert RETRY_POLICY.wait is not None
    return float(RETRY_POLICY.wait(state))
