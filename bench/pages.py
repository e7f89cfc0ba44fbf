"""Pages over years of history: 1,000,000 messages and 5,000,000 recipients (issue 6, 4 and 7).

    python -m bench.pages [--database-url URL] [--samples N] [--reseed]

Seeds the database once (SQLite: cached in `instance/bench-1m.db`, or SMSPANEL_BENCH_DB),
starts gunicorn with 2 workers on it and times each page from a client on loopback, one
request at a time. gunicorn's sync workers close each connection, so every figure includes
a TCP connect on loopback (~0.1 ms); the app sends no server-timing header.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from bench.harness import Client, cached_sqlite_url, emit, holds_message, percentile
from loopback import ADMIN_PASSWORD, ROOT, App

MESSAGES = 1_000_000
RECIPIENTS_PER_BLOCK = 50  # every 10 messages: 7 single, two of 3, one of 37 -> 5 on average
BIG_MESSAGE_RECIPIENTS = 10_000
YEARS = 3
BENCH_USER = "bench"
BENCH_PASSWORD = "bench user password 1"
OTHER_USERS = ("ops", "clinic", "school")
SEED_VERSION = "3"  # 2: message_tallies filled; 3: scheduled and personalised messages
SCHEDULED_MESSAGES = 500  # the bench user's, 3 recipients each, due over the next days
PERSONALISED_RECIPIENTS = 10_000
TARGET_MS = 30.0
POLL_TARGET_MS = 5.0

TOPICS = [
    "Road closure on Nathan Road this weekend",
    "Typhoon signal No. 8 update: offices closed",
    "Vaccination reminder for your appointment",
    "Water supply suspension in your district",
    "Meeting moved to 3pm, room 12A",
    "Your parcel is ready for collection",
    "Payment received, thank you",
    "颱風信號更新：辦公室暫停開放",
]


def default_sqlite_path() -> Path:
    configured = os.environ.get("SMSPANEL_BENCH_DB")
    return Path(configured) if configured else ROOT / "instance" / f"bench-1m-v{SEED_VERSION}.db"


# --- seeding ---------------------------------------------------------------------------------

# For message n (0-based): which of the users sends it, how many recipients it has, its status.
# Blocks of ten consecutive messages share a sender; half of all blocks are the bench user's.
SQLITE_SEED = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :messages - 1)
INSERT INTO messages (id, user_id, content, segments, status, recipient_count, sent_count,
                      failed_count, created_at, completed_at)
SELECT i + 1, user_id, content, 1, status, rc,
       CASE status WHEN 'sent' THEN rc WHEN 'partial' THEN rc - 1 ELSE 0 END,
       CASE status WHEN 'failed' THEN rc WHEN 'partial' THEN 1 ELSE 0 END,
       created_at, CASE WHEN status = 'pending' THEN NULL ELSE created_at END
FROM (
  SELECT i,
    CASE (i / 10) % 10 WHEN 5 THEN :u1 WHEN 6 THEN :u1 WHEN 7 THEN :u2 WHEN 8 THEN :u3
                       WHEN 9 THEN :admin ELSE :bench END AS user_id,
    CASE i % 8 WHEN 0 THEN :t0 WHEN 1 THEN :t1 WHEN 2 THEN :t2 WHEN 3 THEN :t3 WHEN 4 THEN :t4
               WHEN 5 THEN :t5 WHEN 6 THEN :t6 ELSE :t7 END || ' (ref ' || i || ')' AS content,
    CASE WHEN i % 10 < 7 THEN 1 WHEN i % 10 < 9 THEN 3 ELSE 37 END AS rc,
    CASE WHEN i >= :messages - 200 THEN 'pending'
         WHEN i % 10 >= 7 AND (i * 7919) % 100 < 85 THEN 'sent'
         WHEN i % 10 >= 7 AND (i * 7919) % 100 < 93 THEN 'partial'
         WHEN i % 10 < 7 AND (i * 7919) % 100 < 92 THEN 'sent'
         ELSE 'failed' END AS status,
    strftime('%Y-%m-%d %H:%M:%S', :start + i * :step + (i * 7919) % :step, 'unixepoch')
      || '.000000' AS created_at
  FROM n) AS seq
"""

# Recipient r belongs to message 10*(r/50) + slot, by the block layout above; its status
# follows its message's (a partial message's first recipient failed).
SQLITE_SEED_RECIPIENTS = """
WITH RECURSIVE r(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM r WHERE j < :recipients - 1)
INSERT INTO recipients (id, message_id, phone, status, attempts, next_attempt_at,
                        maybe_duplicate, sent_at, updated_at)
SELECT j + 1, m.id, printf('%08d', 51000000 + (j * 7919) % 200000),
       CASE m.status WHEN 'partial' THEN CASE WHEN first = 1 THEN 'failed' ELSE 'sent' END
                     ELSE m.status END,
       CASE m.status WHEN 'pending' THEN 0 ELSE 1 END, m.created_at, 0,
       CASE WHEN m.status IN ('sent', 'partial') THEN m.created_at END, m.created_at
FROM (
  SELECT j, 10 * (j / 50) + CASE WHEN j % 50 < 7 THEN j % 50 WHEN j % 50 < 10 THEN 7
                                 WHEN j % 50 < 13 THEN 8 ELSE 9 END + 1 AS message_id,
         j % 50 IN (0, 1, 2, 3, 4, 5, 6, 7, 10, 13) AS first
  FROM r) AS slots
JOIN messages AS m ON m.id = slots.message_id
"""

POSTGRES_SEED = (
    SQLITE_SEED.replace(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :messages - 1)",
        "WITH n(i) AS (SELECT generate_series(0, :messages - 1)::bigint)",
    )
    .replace("strftime('%Y-%m-%d %H:%M:%S', ", "to_timestamp(")
    .replace(
        ", 'unixepoch')\n      || '.000000' AS created_at", ") AT TIME ZONE 'UTC' AS created_at"
    )
)
POSTGRES_SEED_RECIPIENTS = (
    SQLITE_SEED_RECIPIENTS.replace(
        "WITH RECURSIVE r(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM r WHERE j < :recipients - 1)",
        "WITH r(j) AS (SELECT generate_series(0, :recipients - 1)::bigint)",
    )
    .replace(
        "printf('%08d', 51000000 + (j * 7919) % 200000)", "(51000000 + (j * 7919) % 200000)::text"
    )
    .replace("WHEN first = 1", "WHEN first")
    .replace("maybe_duplicate, sent_at", "maybe_duplicate, sent_at")
    .replace("m.created_at, 0,", "m.created_at, false,")
)


SEED_TALLIES = """
UPDATE message_tallies
SET message_count = (SELECT count(*) FROM messages WHERE messages.user_id = message_tallies.user_id)
"""


def prepare_schema(database_url: str, instance: Path) -> dict[str, int]:
    """Migrate through the app itself and create the users; returns username -> id."""
    os.environ.update(
        {"DATABASE_URL": database_url, "SMSPANEL_INSTANCE_PATH": str(instance),
         "ADMIN_PASSWORD": ADMIN_PASSWORD, "SMS_IN_APP_DISPATCHER": "false"}
    )  # fmt: skip
    from smspanel import create_app
    from smspanel.database import prepare_database
    from smspanel.models import User, db
    from smspanel.services.accounts import create_user

    app = create_app()
    prepare_database(app)
    with app.app_context():
        for name in (BENCH_USER, *OTHER_USERS):
            if db.session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(db.session, name, BENCH_PASSWORD)
        rows = db.session.execute(select(User.username, User.id))
        ids = {name: user_id for name, user_id in rows}
        db.session.remove()
        db.engine.dispose()
    return ids


def seed(engine: Engine, users: dict[str, int]) -> None:
    """Bulk INSERT ... SELECT, with the recipient indexes built afterwards (much faster)."""
    from smspanel.models import Recipient

    now = int(time.time())
    step = YEARS * 365 * 86400 // MESSAGES
    params: dict[str, Any] = {
        "messages": MESSAGES,
        "recipients": MESSAGES // 10 * RECIPIENTS_PER_BLOCK,
        "start": now - YEARS * 365 * 86400,
        "step": step,
        "bench": users[BENCH_USER],
        "u1": users[OTHER_USERS[0]],
        "u2": users[OTHER_USERS[1]],
        "u3": users[OTHER_USERS[2]],
        "admin": users["SMSadmin"],
        **{f"t{n}": topic for n, topic in enumerate(TOPICS)},
    }
    postgres = engine.dialect.name == "postgresql"
    indexes = list(Recipient.__table__.indexes)
    started = time.perf_counter()
    with engine.begin() as connection:
        for index in indexes:
            index.drop(connection)
        connection.execute(text(POSTGRES_SEED if postgres else SQLITE_SEED), params)
        print(f"# seeded messages in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        connection.execute(
            text(POSTGRES_SEED_RECIPIENTS if postgres else SQLITE_SEED_RECIPIENTS), params
        )
        print(f"# seeded recipients in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        seed_big_message(connection, users[BENCH_USER], now)
        seed_campaigns(connection, users[BENCH_USER], now)
        for index in indexes:
            index.create(connection)
        # The messages went in behind the app's back: bring each user's tally (made with the
        # account, at 0) to what they now own, as the migration would.
        connection.execute(text(SEED_TALLIES))
    with engine.begin() as connection:
        if postgres:
            connection.execute(
                text("SELECT setval('messages_id_seq', (SELECT max(id) FROM messages))")
            )
            connection.execute(
                text("SELECT setval('recipients_id_seq', (SELECT max(id) FROM recipients))")
            )
        if not postgres:
            connection.execute(text("ANALYZE"))
    if postgres:  # as autovacuum would have by now: the visibility map allows index-only scans
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    print(f"# seeded and indexed in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def seed_big_message(connection: Any, user_id: int, now: int) -> None:
    """The message being polled: 10,000 recipients, 6,000 sent, 100 failed, the rest pending."""
    from datetime import UTC, datetime

    from smspanel.models import Message, Recipient

    created = datetime.fromtimestamp(now, UTC)
    message_id = MESSAGES + 1
    connection.execute(
        Message.__table__.insert(),
        [{"id": message_id, "user_id": user_id, "content": "Big notice being delivered",
          "segments": 1, "status": "pending", "recipient_count": BIG_MESSAGE_RECIPIENTS,
          "sent_count": 6000, "failed_count": 100, "created_at": created}],
    )  # fmt: skip
    first = MESSAGES // 10 * RECIPIENTS_PER_BLOCK + 1
    connection.execute(
        Recipient.__table__.insert(),
        [
            {"id": first + n, "message_id": message_id, "phone": f"{60000000 + n:08d}",
             "status": "sent" if n < 6000 else "failed" if n < 6100 else "pending",
             "attempts": 1 if n < 6100 else 0, "next_attempt_at": created,
             "maybe_duplicate": False, "updated_at": created}
            for n in range(BIG_MESSAGE_RECIPIENTS)
        ],
    )  # fmt: skip


def seed_campaigns(connection: Any, user_id: int, now: int) -> None:
    """A personalised message of 10,000 recipients, each with its own text, half sent; and
    scheduled messages waiting for the coming days."""
    from datetime import UTC, datetime, timedelta

    from smspanel.models import Message, Recipient

    created = datetime.fromtimestamp(now, UTC)
    personalised_id = MESSAGES + 2
    first = MESSAGES // 10 * RECIPIENTS_PER_BLOCK + BIG_MESSAGE_RECIPIENTS + 1
    connection.execute(
        Message.__table__.insert(),
        [{"id": personalised_id, "user_id": user_id, "personalised": True,
          "content": "Dear ((name)), your appointment is on ((date)) at ((clinic)).",
          "segments": PERSONALISED_RECIPIENTS, "status": "pending",
          "recipient_count": PERSONALISED_RECIPIENTS, "sent_count": PERSONALISED_RECIPIENTS // 2,
          "failed_count": 0, "created_at": created}],
    )  # fmt: skip
    connection.execute(
        Recipient.__table__.insert(),
        [
            {"id": first + n, "message_id": personalised_id, "phone": f"{61000000 + n:08d}",
             "content": f"Dear Client {n}, your appointment is on 2 Dec at Clinic {n % 18}.",
             "status": "sent" if n < PERSONALISED_RECIPIENTS // 2 else "pending",
             "attempts": 1 if n < PERSONALISED_RECIPIENTS // 2 else 0,
             "next_attempt_at": created, "maybe_duplicate": False, "updated_at": created}
            for n in range(PERSONALISED_RECIPIENTS)
        ],
    )  # fmt: skip
    first += PERSONALISED_RECIPIENTS
    for m in range(SCHEDULED_MESSAGES):
        message_id = personalised_id + 1 + m
        due = created + timedelta(hours=1 + m)
        connection.execute(
            Message.__table__.insert(),
            [{"id": message_id, "user_id": user_id, "content": f"Reminder {m}: clinic tomorrow",
              "segments": 1, "status": "scheduled", "recipient_count": 3, "sent_count": 0,
              "failed_count": 0, "created_at": created, "scheduled_at": due}],
        )  # fmt: skip
        connection.execute(
            Recipient.__table__.insert(),
            [{"id": first + 3 * m + r, "message_id": message_id, "phone": f"{62000000 + r:08d}",
              "status": "pending", "attempts": 0, "next_attempt_at": due,
              "maybe_duplicate": False, "updated_at": created} for r in range(3)],
        )  # fmt: skip


def stale_before() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 12 * 3600))


def seeded_database(database_url: str | None, reseed: bool, tmp: Path) -> str:
    """The URL of a database holding the 1M-message history, seeding it only when needed."""
    url = cached_sqlite_url(default_sqlite_path(), reseed) if database_url is None else database_url
    engine = create_engine(url)
    if not holds_message(engine, MESSAGES + 2):
        users = prepare_schema(url, tmp / "seed-instance")
        seed(engine, users)
    engine.dispose()
    return url


# --- measuring -------------------------------------------------------------------------------


def timed_get(client: Client, path: str) -> float:
    started = time.perf_counter()
    client.request("GET", path)
    return (time.perf_counter() - started) * 1000


def time_page(client: Client, name: str, path: str, samples: int, target: float) -> None:
    for _ in range(3):  # warm the workers' caches and the page cache
        status, body = client.request("GET", path)
        assert status == 200, (path, status, body[:300])
    timings = [timed_get(client, path) for _ in range(samples)]
    emit(
        name,
        statistics.median(timings),
        "ms",
        at_most=target,
        p99=round(percentile(timings, 0.99), 2),
        path=path,
        samples=samples,
        bytes=len(body),
    )


def time_languages(english: Client, chinese: Client, name: str, path: str, samples: int) -> None:
    """The same page in English and in Traditional Chinese, interleaved so that both see
    the same machine; the figure is the ratio of the medians."""
    for client in (english, chinese):
        for _ in range(3):
            status, body = client.request("GET", path)
            assert status == 200, (path, status, body[:300])
    assert 'lang="zh-Hant-HK"' in chinese.request("GET", path)[1].decode(), "not in Chinese"
    en_ms, zh_ms = [], []
    for _ in range(samples):
        en_ms.append(timed_get(english, path))
        zh_ms.append(timed_get(chinese, path))
    en, zh = statistics.median(en_ms), statistics.median(zh_ms)
    emit(f"{name}_zh_vs_en", zh / en, "x", at_most=1.10, path=path, samples=samples,
         en_ms=round(en, 2), zh_ms=round(zh, 2))  # fmt: skip


def next_link(body: bytes) -> str:
    found = re.search(rb'href="([^"]+)" rel="next"', body)
    assert found, "no next link"
    return found.group(1).decode().replace("&amp;", "&")


def run(
    tmp: Path, database_url: str | None = None, samples: int = 50, reseed: bool = False
) -> None:
    url = seeded_database(database_url, reseed, tmp)
    app = App.gunicorn(tmp, None, DATABASE_URL=url, SMS_IN_APP_DISPATCHER="false").start(600)
    try:
        web = Client(app.base).log_in(BENCH_USER, BENCH_PASSWORD)
        chinese = Client(app.base)
        chinese.headers["Accept-Language"] = "zh-HK,zh;q=0.9"
        chinese.log_in(BENCH_USER, BENCH_PASSWORD)
        admin = Client(app.base).log_in("SMSadmin", ADMIN_PASSWORD)
        api = Client(app.base, app.token(BENCH_USER, BENCH_PASSWORD))
        dialect = url.split(":", 1)[0].split("+", 1)[0]
        deep_year = time.gmtime(time.time() - 2 * 365 * 86400).tm_year

        # Follow "Next" links a long way down, as a user paging through would.
        path = "/history"
        for _ in range(3):
            path = next_link(web.request("GET", path)[1])
        pages = [
            ("page_dashboard", web, "/"),
            ("page_dashboard_7d", web, "/?time_filter=7d"),
            ("page_dashboard_admin", admin, "/?time_filter=7d"),
            ("page_history_first", web, "/history"),
            ("page_history_next_link", web, path),
            ("page_history_deep_page_param", web, "/history?page=10000"),
            ("page_history_status_failed", web, "/history?status=failed"),
            ("page_history_status_scheduled", web, "/history?status=scheduled"),
            ("page_message_personalised", web, f"/history/{MESSAGES + 2}"),
            ("page_history_date_range", web,
             f"/history?date_from={deep_year}-03-01&date_to={deep_year}-03-31"),
            ("page_history_search_word", web, "/history?search=typhoon"),
            ("page_history_search_rare", web, "/history?search=ref+123450%29"),
            ("page_history_search_phone", web, "/history?search=5100+7919"),
            ("page_admin_messages", admin, "/admin/messages"),
            ("page_admin_messages_search", admin, "/admin/messages?search=parcel"),
            ("api_list_first", api, "/api/sms"),
            ("api_list_deep", api, "/api/sms?page=10000"),
        ]  # fmt: skip
        for name, client, page_path in pages:
            time_page(client, name, page_path, samples, TARGET_MS)
        for name, page_path in (
            ("page_dashboard_7d", "/?time_filter=7d"),
            ("page_history_first", "/history"),
            ("page_message_personalised", f"/history/{MESSAGES + 2}"),
        ):
            time_languages(web, chinese, name, page_path, samples)  # fmt: skip
        time_page(api, "api_status_poll_10k_recipients", f"/api/sms/{MESSAGES + 1}",
                  samples * 4, POLL_TARGET_MS)  # fmt: skip
        time_page(api, "api_status_poll_personalised", f"/api/sms/{MESSAGES + 2}",
                  samples * 4, POLL_TARGET_MS)  # fmt: skip
        emit("pages_database", 0, "", dialect=dialect, messages=MESSAGES,
             recipients=MESSAGES // 10 * RECIPIENTS_PER_BLOCK + BIG_MESSAGE_RECIPIENTS
             + PERSONALISED_RECIPIENTS + 3 * SCHEDULED_MESSAGES,
             scheduled_messages=SCHEDULED_MESSAGES,
             timing="client side on loopback, one at a time, a TCP connect each")  # fmt: skip
    finally:
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="seed and use this database instead of SQLite")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--reseed", action="store_true", help="throw the cached SQLite file away")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-pages-") as tmp_name:
        run(Path(tmp_name), args.database_url, args.samples, args.reseed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
