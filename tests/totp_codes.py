"""Codes of an authenticator app for two-factor tests, safe from a step ending mid-request."""

from __future__ import annotations

import time

import pyotp

STEP = 30


def previous_steps_code(totp: pyotp.TOTP, margin: float = 3.0) -> str:
    """The code of the step before now, which the server still accepts (a clock a little
    behind). Not in a step's last `margin` seconds: the server's check could then fall in
    the next step and find the code two steps old."""
    left = STEP - time.time() % STEP
    if left < margin:
        time.sleep(left + 0.05)
    return totp.at(time.time() - STEP)
