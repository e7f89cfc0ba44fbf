"""POST /api/sms with an `Idempotency-Key` beside the same POST without one (issue 14: at
least 90% of the rate).

    python -m bench.idempotency [--seconds N] [--rounds N]

The README's `gunicorn -w 2` with its dispatcher delivering to the mock gateway, as users
run it; wrk at 16 connections. Rounds alternate without and with a key (a new key for
every request, so each is stored, never replayed), each first in every other round, and
each run's sends are delivered before the next starts; the figure is the ratio of the
median rates.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from bench.harness import WRK_SCRIPT, emit, run_wrk
from loopback import App, MockGateway, wait_until

KEYED_SCRIPT = (
    WRK_SCRIPT
    + """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local sent = 0
function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = "bench-ROUND-" .. tid .. "-" .. sent
  return wrk.format()
end
"""
)


def run(tmp: Path, seconds: int, rounds: int, connections: int = 16) -> None:
    if shutil.which("wrk") is None:
        emit("api_send_idempotent_rate_ratio", 0, "ratio", error="wrk not installed")
        return
    mock = MockGateway(tmp).start()
    app = App.gunicorn(tmp, mock.url).start(60)
    try:
        token = app.token()
        url = f"{app.base}/api/sms"
        accepted = 0

        def measure(script: str) -> dict[str, float]:
            """One run, then its sends delivered, so the next starts on an empty queue."""
            nonlocal accepted
            figures = run_wrk(tmp, url, token, seconds, connections, script)
            accepted += int(figures["accepted"])
            wait_until(lambda: mock.received()["total"] >= accepted, 120, 0.2, "delivery")
            return figures

        measure(WRK_SCRIPT)  # warm up
        plain, keyed = [], []
        for round_ in range(rounds):
            keyed_script = KEYED_SCRIPT.replace("ROUND", str(round_))
            if round_ % 2:  # each goes first in every other round
                keyed.append(measure(keyed_script))
                plain.append(measure(WRK_SCRIPT))
            else:
                plain.append(measure(WRK_SCRIPT))
                keyed.append(measure(keyed_script))
        without = statistics.median(f["rps"] for f in plain)
        with_key = statistics.median(f["rps"] for f in keyed)
        errors = sum(int(f["errors"]) for f in plain + keyed)
        emit("api_send_rps_without_key", without, "requests/s", rounds=rounds,
             p50=statistics.median(f["p50"] for f in plain), errors=errors)  # fmt: skip
        emit("api_send_rps_with_key", with_key, "requests/s", rounds=rounds,
             p50=statistics.median(f["p50"] for f in keyed), errors=errors)  # fmt: skip
        emit("api_send_idempotent_rate_ratio", with_key / without, "ratio", at_least=0.9,
             connections=connections, workers=2, seconds=seconds, delivery="on")  # fmt: skip
    finally:
        app.stop()
        mock.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as tmp:
        run(Path(tmp), args.seconds, args.rounds)


if __name__ == "__main__":
    main()
