"""GET /metrics over 1,000,000 messages (issue 14: under 50 ms).

    python -m bench.metrics [--database-url URL] [--scrapes N] [--reseed]

Seeds the database once with set-based inserts (SQLite: cached in
`instance/bench-metrics-v1.db`, or SMSPANEL_BENCH_METRICS_DB): 1,000,000 messages of one
recipient each, sent or failed, with a dead letter for each failure (a fifth of them still
pending); a send in progress with BACKLOG recipients due and waiting; SCHEDULED recipients
due tomorrow; WEBHOOK_DELIVERIES webhook deliveries, nearly all delivered. Then gunicorn
with 2 workers (no dispatcher, so the backlog stays) answers /metrics from a client on
loopback, one scrape at a time, after some traffic so each worker has its files to read.
A server URL must name a scratch database: its tables are dropped and made again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bench.harness import Client, cached_sqlite_url, emit, holds_message, percentile
from loopback import ROOT, App

MESSAGES = 1_000_000
BACKLOG = 100_000  # recipients of the send in progress, due and waiting
SCHEDULED = 1_000
WEBHOOK_DELIVERIES = 100_000
FAILED_EVERY = 50  # one message in 50 failed, with its dead letter
SEED_VERSION = "1"
TARGET_MS = 50.0


def default_sqlite_path() -> Path:
    configured = os.environ.get("SMSPANEL_BENCH_METRICS_DB")
    if configured:
        return Path(configured)
    return ROOT / "instance" / f"bench-metrics-v{SEED_VERSION}.db"


def series(postgres: bool, name: str, count: str) -> str:
    """A CTE of the numbers 0 .. count - 1."""
    if postgres:
        return f"WITH {name}(i) AS (SELECT generate_series(0, {count} - 1)::bigint)"
    return (
        f"WITH RECURSIVE {name}(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM {name} "
        f"WHERE i < {count} - 1)"
    )


def seed_statements(postgres: bool) -> list[str]:
    false = "false" if postgres else "0"
    phone = "(51000000 + i % 200000)::text" if postgres else "printf('%08d', 51000000 + i % 200000)"
    return [
        f"""{series(postgres, "n", ":messages")}
        INSERT INTO messages (id, user_id, content, segments, status, recipient_count,
                              sent_count, failed_count, created_at, completed_at)
        SELECT i + 1, :user_id, 'Notice ' || i, 1,
               CASE WHEN i % {FAILED_EVERY} = 0 THEN 'failed' ELSE 'sent' END, 1,
               CASE WHEN i % {FAILED_EVERY} = 0 THEN 0 ELSE 1 END,
               CASE WHEN i % {FAILED_EVERY} = 0 THEN 1 ELSE 0 END, :old, :old
        FROM n""",
        f"""{series(postgres, "n", ":messages")}
        INSERT INTO recipients (id, message_id, phone, status, attempts, next_attempt_at,
                                maybe_duplicate, sent_at, updated_at)
        SELECT i + 1, i + 1, {phone},
               CASE WHEN i % {FAILED_EVERY} = 0 THEN 'failed' ELSE 'sent' END, 1, :old,
               {false}, CASE WHEN i % {FAILED_EVERY} = 0 THEN NULL ELSE :old END, :old
        FROM n""",
        """INSERT INTO dead_letters (id, recipient_id, message_id, phone, status, error_type,
                                     error_message, retry_count, created_at, updated_at)
        SELECT id, id, message_id, phone,
               CASE WHEN id % 5 = 1 THEN 'pending' ELSE 'abandoned' END,
               'refused', 'HTTP 401', 0, :old, :old
        FROM recipients WHERE status = 'failed'""",
        # The send in progress: one message, its recipients due a minute ago, in the lane.
        """INSERT INTO messages (id, user_id, content, segments, status, recipient_count,
                                 sent_count, failed_count, created_at)
        VALUES (:messages + 1, :user_id, 'Typhoon signal No. 8', 1, 'pending',
                :backlog, 0, 0, :due)""",
        f"""{series(postgres, "n", ":backlog")}
        INSERT INTO recipients (id, message_id, phone, status, attempts, next_attempt_at,
                                maybe_duplicate, updated_at, priority, turn)
        SELECT :messages + 1 + i, :messages + 1, {phone}, 'pending', 0, :due, {false}, :due,
               1, i
        FROM n""",
        """INSERT INTO messages (id, user_id, content, segments, status, recipient_count,
                                 sent_count, failed_count, created_at, scheduled_at)
        VALUES (:messages + 2, :user_id, 'Clinic tomorrow', 1, 'scheduled', :scheduled, 0, 0,
                :due, :tomorrow)""",
        f"""{series(postgres, "n", ":scheduled")}
        INSERT INTO recipients (id, message_id, phone, status, attempts, next_attempt_at,
                                maybe_duplicate, updated_at, priority, turn)
        SELECT :messages + 1 + :backlog + i, :messages + 2, {phone}, 'pending', 0, :tomorrow,
               {false}, :due, 1, :later_turn + i
        FROM n""",
        f"""{series(postgres, "n", ":deliveries")}
        INSERT INTO webhook_deliveries (event_id, user_id, event_type, message_id,
                                        recipient_count, payload, status, attempts,
                                        next_attempt_at, retry_until, created_at, updated_at)
        SELECT 'bench-' || i, :user_id, 'message.final', i + 1, 0, '{{}}',
               CASE WHEN i % 1000 = 0 THEN 'failed' WHEN i % 1000 = 1 THEN 'pending'
                    ELSE 'delivered' END,
               1, :old, :old, :old, :old
        FROM n""",
    ]


def prepare_schema(database_url: str, instance: Path) -> int:
    """Tables through the app's migrations, and the sender; returns the sender's id."""
    os.environ.update(
        {"DATABASE_URL": database_url, "SMSPANEL_INSTANCE_PATH": str(instance),
         "SMS_IN_APP_DISPATCHER": "false"}
    )  # fmt: skip
    from smspanel import create_app
    from smspanel.database import prepare_database
    from smspanel.models import db
    from smspanel.services.accounts import create_user

    app = create_app()
    prepare_database(app)
    with app.app_context():
        user_id = create_user(db.session, "bench", "bench user password 1").id
        db.session.remove()
        db.engine.dispose()
    return user_id


def seed(engine: Engine, user_id: int) -> None:
    from smspanel.models import Recipient
    from smspanel.services.delivery.queue_order import later_turn

    postgres = engine.dialect.name == "postgresql"
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def stamp(moment: datetime) -> Any:
        return moment if postgres else moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    tomorrow = now + timedelta(days=1)
    params = {
        "messages": MESSAGES,
        "backlog": BACKLOG,
        "scheduled": SCHEDULED,
        "deliveries": WEBHOOK_DELIVERIES,
        "user_id": user_id,
        "old": stamp(now - timedelta(days=30)),
        "due": stamp(now - timedelta(minutes=1)),
        "tomorrow": stamp(tomorrow),
        "later_turn": later_turn(tomorrow.replace(tzinfo=UTC)),
    }
    indexes = list(Recipient.__table__.indexes)
    started = time.perf_counter()
    with engine.begin() as connection:
        for index in indexes:
            index.drop(connection)
        for statement in seed_statements(postgres):
            connection.execute(text(statement), params)
        for index in indexes:
            index.create(connection)
    with engine.begin() as connection:
        if postgres:
            for table in ("messages", "recipients", "dead_letters", "webhook_deliveries"):
                connection.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
        else:
            connection.execute(text("ANALYZE"))
    if postgres:  # as autovacuum would have by now: the visibility map allows index-only scans
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    print(f"# seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def seeded_database(database_url: str | None, reseed: bool, tmp: Path) -> str:
    if database_url is None:
        url = cached_sqlite_url(default_sqlite_path(), reseed)
    else:
        url = database_url
        reseed = True  # a scratch database: made again every run
    engine = create_engine(url)
    seeded = holds_message(engine, MESSAGES + 2)
    if reseed or not seeded:
        from smspanel.models import db

        with engine.begin() as connection:
            db.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        seed(engine, prepare_schema(url, tmp / "seed-instance"))
    engine.dispose()
    return url


def run(tmp: Path, database_url: str | None = None, scrapes: int = 30, reseed: bool = False):
    url = seeded_database(database_url, reseed, tmp)
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    app = App.gunicorn(tmp, None, workers=2, DATABASE_URL=url, SMS_IN_APP_DISPATCHER="false").start(
        120
    )
    try:
        client = Client(app.base)
        for path in ("/health/live", "/login", "/api/docs", "/no-such-page") * 10:
            client.request("GET", path)  # traffic, so both workers have counters to read
        timings = []
        for n in range(5 + scrapes):
            started = time.perf_counter()
            status, body = client.request("GET", "/metrics")
            elapsed = (time.perf_counter() - started) * 1000
            assert status == 200, body
            if n >= 5:  # the first ones warm each worker's caches
                timings.append(elapsed)
        shown = body.decode()
        assert f"smspanel_queue_depth {float(BACKLOG)}" in shown, shown[:2000]
        emit(
            f"metrics_scrape_ms_median_{dialect}",
            statistics.median(timings),
            "ms",
            at_most=TARGET_MS,
            p95=round(percentile(timings, 0.95), 1),
            best=round(min(timings), 1),
            scrapes=scrapes,
            messages=MESSAGES,
            queue_depth=BACKLOG,
            webhook_deliveries=WEBHOOK_DELIVERIES,
            workers=2,
            note="GET over loopback, one at a time, gunicorn sync workers",
        )
    finally:
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-metrics-") as tmp:
        run(Path(tmp), args.database_url, args.scrapes, args.reseed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
