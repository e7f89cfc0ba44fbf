"""The urgent lane and fair turns (issue 13): a later single SMS while a 100,000-recipient
send is delivered, and claim throughput with the fair order beside today's.

    python -m bench.fairness [--only latency|throughput] [--database-url URL] [--rounds N]

latency:    the README's `gunicorn -w 2 run:app` with its dispatcher and default settings,
            against the mock gateway at 0 ms. Once the 100,000 send is under way, a single
            SMS and then an urgent one are posted in turn (`--samples` of each, half a
            second apart); each figure is from just before its POST until the mock received
            it (the mock's own clock, the same machine's). Targets: 2 s and 1 s.
throughput: in-process, one dispatcher (concurrency 32, as `flask worker` runs it) against
            the mock at 0 ms, delivering a 20,000-recipient send while a 20,000 scheduled
            send waits; each round on a new database; the fair order and the previous one
            (`ORDER BY next_attempt_at, id` on the old `(status, next_attempt_at)` index,
            kept here only) in alternating rounds. Also the database side alone: claims of
            128 recorded as sent at once, no gateway. Target: fair >= 95% of the previous.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from bench.harness import emit, numbers
from loopback import App, MockGateway, http, wait_until

BULK = 100_000
SINGLE_FIRST = 93_000_000  # 9300 0000 on: mobile numbers apart from the bulk send's


def bench_latency(tmp: Path, samples: int) -> None:
    run = tmp / "latency"
    run.mkdir()
    mock = MockGateway(run).start()
    app = App.gunicorn(run, mock.url, 2, test_settings=False).start(60)
    try:
        token = app.token()
        body = {"recipients": numbers(BULK), "content": "fairness bulk"}
        status, answer = http("POST", f"{app.base}/api/sms/send-bulk", body, token, 120)
        assert status == 202, answer
        bulk_id = answer["data"]["id"]

        def bulk_sent() -> int:
            return int(http("GET", f"{app.base}/api/sms/{bulk_id}", token=token)[1]["data"]
                       ["success_count"])  # fmt: skip

        def status_of(message_id: int) -> str:
            return str(http("GET", f"{app.base}/api/sms/{message_id}", token=token)[1]["data"]
                       ["status"])  # fmt: skip

        wait_until(lambda: bulk_sent() >= 5_000, 120, 0.1, "the bulk send to be under way")
        posted: list[dict[str, Any]] = []
        for n in range(samples):
            for priority in ("normal", "urgent"):
                phone = str(SINGLE_FIRST + len(posted))
                before = bulk_sent()
                started = time.time()
                status, answer = http(
                    "POST",
                    f"{app.base}/api/sms",
                    {"recipient": phone, "content": f"later {priority} {n}", "priority": priority},
                    token,
                )
                assert status == 202, answer
                message_id = answer["data"]["id"]
                wait_until(lambda m=message_id: status_of(m) != "pending", 300, 0.02,
                           f"the {priority} SMS to be sent")  # fmt: skip
                posted.append({"phone": phone, "priority": priority, "posted": started,
                               "bulk_left": BULK - before})  # fmt: skip
                time.sleep(0.5)
        bulk_left_at_end = BULK - bulk_sent()
        received = {
            m["mrt"][3:]: float(m["received_at"])
            for m in mock.received(messages=True)["messages"]
            if m["msg_utf8"].startswith("later ")
        }
        for priority, target in (("normal", 2.0), ("urgent", 1.0)):
            mine = [p for p in posted if p["priority"] == priority]
            waits = [received[p["phone"]] - p["posted"] for p in mine]
            emit(f"fairness_{priority}_single_sms_at_gateway_s", statistics.median(waits), "s",
                 at_most=target, worst=round(max(waits), 3), each=[round(w, 3) for w in waits],
                 bulk_left_at_each=[p["bulk_left"] for p in mine],
                 bulk_left_at_end=bulk_left_at_end, deployment="gunicorn -w 2 run:app",
                 note="POST /api/sms to the mock's receipt, while the 100,000 send is delivered"
                 )  # fmt: skip
    finally:
        app.stop()
        mock.stop()


# --- throughput: the previous claim order, kept here only to measure against ---------------


def previous_due_in_claim_order(session, now, limit):  # type: ignore[no-untyped-def]
    """Today's order before issue 13: due rows oldest first."""
    from smspanel.models import Recipient, RecipientStatus
    from smspanel.services.transactions import locks_rows

    query = (
        select(Recipient.id)
        .where(Recipient.status == RecipientStatus.PENDING, Recipient.next_attempt_at <= now)
        .order_by(Recipient.next_attempt_at, Recipient.id)
        .limit(limit)
    )
    if locks_rows(session):
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


@contextmanager
def claim_order(order: str) -> Iterator[None]:
    """The fair order as shipped, or the previous one in its place while the block runs."""
    from smspanel.services import sending
    from smspanel.services.delivery import claims

    if order == "fair":
        yield
        return
    saved = claims.due_in_claim_order, claims.bring_forward_due, sending.first_turn
    claims.due_in_claim_order = previous_due_in_claim_order  # type: ignore[assignment]
    claims.bring_forward_due = lambda session, now: 0  # type: ignore[assignment]
    sending.first_turn = lambda session, lane, due, now: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        claims.due_in_claim_order, claims.bring_forward_due, sending.first_turn = saved


def previous_indexes(session) -> None:  # type: ignore[no-untyped-def]
    """The recipients' indexes as they were: (status, next_attempt_at), no claim-order one."""
    from smspanel.models import Recipient

    connection = session.connection()
    for index in Recipient.__table__.indexes:
        if index.name in ("ix_recipients_claim_order", "ix_recipients_status_next_attempt_at_turn"):
            index.drop(connection)
    columns = "status, next_attempt_at"
    connection.execute(
        text(f"CREATE INDEX ix_recipients_status_next_attempt_at ON recipients ({columns})")
    )
    session.commit()


def fresh_app(url: str, gateway_url: str | None):  # type: ignore[no-untyped-def]
    from smspanel import create_app

    return create_app(
        {
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0000",
            "SQLALCHEMY_DATABASE_URI": url,
            "SMS_IN_APP_DISPATCHER": False,
            "SMS_BASE_URL": gateway_url,
            "SMS_APPLICATION_ID": "bench",
            "SMS_SENDER_NUMBER": "18001234",
            "TESTING": True,
        }
    )


def seed(app, order: str, count: int) -> int:  # type: ignore[no-untyped-def]
    """A new database with the queue: `count` due now, as many scheduled an hour ahead."""
    from smspanel.models import db, utcnow
    from smspanel.services.accounts import create_user
    from smspanel.services.sending import accept_send

    with app.app_context():
        db.drop_all()
        db.create_all()
        if order == "previous":
            previous_indexes(db.session)
        user = create_user(db.session, "bench", "bench user password 1")
        later = utcnow() + timedelta(hours=1)
        accept_send(db.session, user.id, numbers(count, 62_000_000), "Later", later)
        accept_send(db.session, user.id, numbers(count), "Now")
        name = db.engine.dialect.name
        db.session.execute(text("ANALYZE TABLE recipients" if name == "mysql" else "ANALYZE"))
        db.session.commit()
        return user.id


def dispatcher_round(app, count: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Recipients per second one dispatcher delivers from its start until all are recorded,
    and this process's CPU µs per recipient (SQLite's work included)."""
    from smspanel.models import db
    from smspanel.services.delivery.dispatcher import Dispatcher, DispatcherSettings
    from smspanel.services.delivery.gateway import gateway_from_config

    with app.app_context():
        engine = db.engine
    dispatcher = Dispatcher(engine, DispatcherSettings(concurrency=32),
                            gateway_from_config(app.config))  # fmt: skip
    worker = threading.Thread(target=dispatcher.run)
    started, cpu = time.perf_counter(), time.process_time()
    worker.start()
    while dispatcher.delivered < count:
        time.sleep(0.01)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    dispatcher.stop()
    worker.join()
    return count / elapsed, cpu * 1e6 / count


def database_round(app, count: int, batch: int = 128) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Recipients per second claimed and recorded as sent, one claim of `batch` at a time;
    CPU µs per recipient."""
    from smspanel.models import db
    from smspanel.services.delivery.claims import claim_due_recipients
    from smspanel.services.delivery.gateway import GatewayReply
    from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes

    ok = GatewayReply(200, "OK")
    done = 0
    with app.app_context():
        started, cpu = time.perf_counter(), time.process_time()
        while done < count:
            claimed = claim_due_recipients(db.session, "bench", batch, 60)
            done += record_outcomes(
                db.session, "bench", [DeliveryOutcome.sent(c, ok) for c in claimed]
            )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        db.session.remove()
        db.engine.dispose()
    return count / elapsed, cpu * 1e6 / count


def bench_throughput(tmp: Path, database_url: str | None, count: int, rounds: int) -> None:
    mock = MockGateway(tmp).start()
    rates: dict[str, dict[str, list[float]]] = {
        kind: {"fair": [], "previous": []} for kind in ("dispatcher", "database")
    }
    cpu: dict[str, dict[str, list[float]]] = {
        kind: {"fair": [], "previous": []} for kind in ("dispatcher", "database")
    }
    try:
        # previous, fair, fair, previous, ...: neither always has the warmer machine.
        orders = [("previous", "fair") if r % 2 == 0 else ("fair", "previous")
                  for r in range(rounds)]  # fmt: skip
        for n, pair in enumerate(orders):
            for order in pair:
                for kind in ("dispatcher", "database"):
                    url = database_url or f"sqlite:///{tmp / f'{kind}-{order}-{n}.db'}"
                    app = fresh_app(url, mock.url)
                    with claim_order(order):
                        seed(app, order, count)
                        measure = dispatcher_round if kind == "dispatcher" else database_round
                        rate, cpu_us = measure(app, count)
                    rates[kind][order].append(rate)
                    cpu[kind][order].append(cpu_us)
                    with app.app_context():
                        from smspanel.models import db

                        db.engine.dispose()
        dialect = (database_url or "sqlite").split(":")[0].split("+")[0]
        for kind, by_order in rates.items():
            fair, previous = (statistics.median(by_order[o]) for o in ("fair", "previous"))
            what = ("one dispatcher, concurrency 32, mock gateway at 0 ms" if kind == "dispatcher"
                    else "claims of 128 recorded as sent, no gateway")  # fmt: skip
            emit(f"fairness_{kind}_rate_ratio", fair / previous, "x", at_least=0.95,
                 fair=round(fair), previous=round(previous), dialect=dialect,
                 fair_each=[round(r) for r in by_order["fair"]],
                 previous_each=[round(r) for r in by_order["previous"]],
                 recipients=count, scheduled_waiting=count, rounds=rounds, note=what
                 )  # fmt: skip
            # On a shared machine the wall rate follows the neighbours' load; CPU time per
            # recipient (this process, SQLite's work included) much less.
            fair_cpu, previous_cpu = (statistics.median(cpu[kind][o]) for o in ("fair", "previous"))
            emit(f"fairness_{kind}_cpu_ratio", previous_cpu / fair_cpu, "x", at_least=0.95,
                 cpu_us_per_recipient_fair=round(fair_cpu, 1),
                 cpu_us_per_recipient_previous=round(previous_cpu, 1), dialect=dialect,
                 note="previous / fair CPU per recipient: the rate each would have on a core "
                 "of its own")  # fmt: skip
    finally:
        mock.stop()


def run(
    tmp: Path,
    only: str | None = None,
    database_url: str | None = None,
    recipients: int = 20_000,
    rounds: int = 4,
    samples: int = 5,
) -> None:
    if only in (None, "latency"):
        bench_latency(tmp, samples)
    if only in (None, "throughput"):
        bench_throughput(tmp, database_url, recipients, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["latency", "throughput"])
    parser.add_argument("--samples", type=int, default=5, help="latency: SMS of each kind")
    parser.add_argument("--database-url", help="throughput: a scratch database on a server")
    parser.add_argument("--recipients", type=int, default=20_000, help="throughput: per round")
    parser.add_argument("--rounds", type=int, default=4, help="throughput: of each order")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as name:
        run(Path(name), args.only, args.database_url, args.recipients, args.rounds, args.samples)


if __name__ == "__main__":
    main()
