"""What the shared login counts add to one login attempt (issue 16).

    python -m bench.login_throttle [--database-url URL] [--attempts N]

In process, the throttle alone (`LoginThrottle.begin`, then `failed` or `succeeded`) on the
database counts, with no request and no password hash around it (a login's scrypt hash is
~0.3 s at full cost): a failed attempt is one transaction, a successful one two (its places
are given back). The median of each is the figure. Without `--database-url` a new SQLite
file in a temporary folder; a server URL must name a scratch database, whose tables are
dropped and made again.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from bench.harness import emit
from bench.in_process import scratch_app

WARM_UP = 50


def run(database_url: str | None, attempts: int) -> None:
    from smspanel.models import db
    from smspanel.services.login_throttle import DatabaseCounts, Limit, LoginThrottle

    with scratch_app(database_url, "login-throttle") as (app, dialect), app.app_context():
        throttle = LoginThrottle(
            DatabaseCounts(db.engine),
            Limit(10**6, timedelta(minutes=15)),  # never full: every attempt takes its places
            Limit(10**6, timedelta(minutes=1)),
        )
        spent: dict[str, list[float]] = {"failed": [], "succeeded": []}
        for n in range(WARM_UP + attempts):
            for outcome in spent:  # in turn, so neither gets a quieter moment of the machine
                started = time.perf_counter()
                attempt = throttle.begin("login-account", f"user{n % 50}", f"10.0.{n % 7}.1")
                attempt.failed() if outcome == "failed" else attempt.succeeded()
                if n >= WARM_UP:
                    spent[outcome].append((time.perf_counter() - started) * 1000)
        for outcome, times in spent.items():
            emit(f"login_throttle_{outcome}_attempt_ms", statistics.median(times), "ms",
                 dialect=dialect, attempts=attempts,
                 p90=round(sorted(times)[int(0.9 * attempts)], 2))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--attempts", type=int, default=500)
    args = parser.parse_args()
    run(args.database_url, args.attempts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
