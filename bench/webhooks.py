"""Webhooks for a 10,000-recipient send (issue 14): all delivered within 10 s of the last
recipient status, and the SMS delivery rate within 10% of the rate with no webhook.

    python -m bench.webhooks [--recipients N] [--rounds N] [--only processes|cost]
                             [--database-url URL]   (with --only: an empty scratch database)

processes: gunicorn (2 workers, dispatchers off), one dedicated `flask --app smspanel worker`
           (concurrency 32) against the mock gateway at 0 ms, and the webhook receiver of
           tests/e2e: sends of N recipients in turn without a webhook and with one
           subscribed to both events, so both get the same machine; the delivery rate of
           each (recipients / POST to all final), their ratio, and how long after the last
           recipient's status the last event arrived.
cost:      in process (SQLite unless given a URL): what the outbox adds to recording a
           dispatcher's batch of 32 results (`record_outcomes`), batches of a subscribed
           and an unsubscribed sender in turn; and what packing 10,000 recipients takes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC
from pathlib import Path

from bench.harness import MOBILE_BLOCK, cpu_seconds, emit, numbers
from loopback import App, MockGateway, WebhookReceiver, http, wait_until

SECRET = "whsec_bench_receiver_secret"
BATCH = 32  # results per record_outcomes: the dispatcher's batch at concurrency 32


def run(tmp: Path, count: int = 10_000, rounds: int = 3, database_url: str | None = None) -> None:
    mock = MockGateway(tmp).start()
    receiver = WebhookReceiver(tmp, SECRET).start()
    settings = {
        "SMS_IN_APP_DISPATCHER": "false",
        "SMS_WORKER_CONCURRENCY": "32",
        "WEBHOOK_ALLOW_HTTP": "true",
        **({"DATABASE_URL": database_url} if database_url else {}),
    }
    app = App.gunicorn(tmp, mock.url, **settings).start(60)
    worker = app.worker()
    try:
        token = app.token()
        worker.start()
        wait_until(lambda: " running" in worker.output, 60, 0.01, "worker to start")
        assert worker.proc is not None
        rates: dict[str, list[float]] = {"plain": [], "webhooks": []}
        cpu: dict[str, list[float]] = {"plain": [], "webhooks": []}
        lags: list[float] = []
        posts = 0
        first = MOBILE_BLOCK
        for _ in range(rounds):
            for kind in ("plain", "webhooks"):
                app.set_webhook(receiver.url if kind == "webhooks" else "", SECRET)
                cpu_before = cpu_seconds(worker.proc.pid)
                started = time.time()
                status, answer = http(
                    "POST",
                    f"{app.base}/api/sms/send-bulk",
                    {"recipients": numbers(count, first), "content": "bench"},
                    token,
                    60,
                )
                first += count
                assert status == 202, answer
                message_id = answer["data"]["id"]

                def final(message_id: int = message_id) -> bool:
                    data = http("GET", f"{app.base}/api/sms/{message_id}", token=token)[1]["data"]
                    return data["status"] != "pending"

                wait_until(final, 600, 0.02, "all statuses final")
                rates[kind].append(count / (time.time() - started))
                if kind == "webhooks":
                    lag, sent = webhook_lag(app, receiver, message_id, count)
                    lags.append(lag)
                    posts += sent
                # The worker's CPU per recipient, its webhooks' work included: a figure a
                # busy machine distorts less than the rate.
                cpu[kind].append((cpu_seconds(worker.proc.pid) - cpu_before) * 1000 / count)
        plain, hooked = statistics.median(rates["plain"]), statistics.median(rates["webhooks"])
        emit("webhooks_delivery_rate_plain", plain, "recipients/s", recipients=count,
             rounds=rounds, each=[round(r) for r in rates["plain"]])  # fmt: skip
        emit("webhooks_delivery_rate_subscribed", hooked, "recipients/s", recipients=count,
             rounds=rounds, each=[round(r) for r in rates["webhooks"]])  # fmt: skip
        # Each round's pair ran a moment apart: their ratio is the figure a machine whose
        # load comes and goes distorts least.
        pairs = [h / p for p, h in zip(rates["plain"], rates["webhooks"], strict=True)]
        emit("webhooks_delivery_rate_ratio", statistics.median(pairs), "x", at_least=0.9,
             each=[round(r, 2) for r in pairs], of_medians=round(hooked / plain, 2),
             note="SMS delivery rate with both events subscribed / without, median of the "
             "rounds' pairs")  # fmt: skip
        cpu_plain, cpu_hooked = statistics.median(cpu["plain"]), statistics.median(cpu["webhooks"])
        emit("webhooks_worker_cpu_ms_per_recipient_plain", cpu_plain, "ms",
             each=[round(c, 3) for c in cpu["plain"]])  # fmt: skip
        emit("webhooks_worker_cpu_ms_per_recipient_subscribed", cpu_hooked, "ms",
             each=[round(c, 3) for c in cpu["webhooks"]],
             added=f"{cpu_hooked / cpu_plain - 1:+.1%}",
             note="dispatcher process from the POST to its last event delivered")  # fmt: skip
        emit("webhooks_all_delivered_after_last_status_s", max(lags), "s", at_most=10.0,
             each=[round(lag, 2) for lag in lags], posts_per_send=posts // rounds,
             note="last event received minus the last recipient's status change")  # fmt: skip
    finally:
        worker.stop()
        app.stop()
        receiver.stop()
        mock.stop()


def webhook_lag(app: App, receiver: WebhookReceiver, message_id: int, count: int):
    """Seconds from the last recipient status to the last of the send's events, and how
    many events (POSTs) the send made; every one checked for its signature."""

    def everything() -> list[dict] | None:
        events = [e for e in receiver.received()["events"] if e["message_id"] == message_id]
        reported = {r for e in events for r in e["recipient_ids"]}
        done = len(reported) == count and any(e["type"] == "message.final" for e in events)
        return events if done else None

    events = wait_until(everything, 120, 0.05, "every webhook event")
    assert all(e["signed"] for e in events), "an event arrived unsigned"
    last_status = last_status_time(app.database_url, message_id)
    return max(e["received_at"] for e in events) - last_status, len(events)


def last_status_time(database_url: str, message_id: int) -> float:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            value = connection.execute(
                text("SELECT MAX(updated_at) FROM recipients WHERE message_id = :m"),
                {"m": message_id},
            ).scalar_one()
    finally:
        engine.dispose()
    if isinstance(value, str):  # SQLite hands back the stored text
        from datetime import datetime

        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC).timestamp()


def record_cost(database_url: str | None = None, count: int = 10_000) -> None:
    """`record_outcomes` per batch of BATCH results, subscribed and not, in turn; packing."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from bench.in_process import scratch_app
    from smspanel.models import Webhook, db
    from smspanel.services.accounts import create_user
    from smspanel.services.delivery.claims import claim_due_recipients
    from smspanel.services.delivery.gateway import GatewayReply
    from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
    from smspanel.services.sending import accept_send
    from smspanel.services.webhooks import outbox
    from smspanel.services.webhooks.packing import pack_outbox

    kinds = ("without", "plain", "subscribed")
    with scratch_app(database_url, "webhooks") as (app, dialect), app.app_context():
        session = db.session
        owner, first = {}, MOBILE_BLOCK
        for kind in kinds:
            user = create_user(session, kind, "bench user password 1")
            if kind == "subscribed":
                session.add(
                    Webhook(
                        user_id=user.id,
                        url="https://hooks.example.com/sms",
                        events="message.final,recipient.final",
                        secret=SECRET,
                    )
                )
                session.commit()
            owner[accept_send(session, user.id, numbers(count, first), "bench").id] = kind
            first += count
        claimed = claim_due_recipients(session, "bench", len(kinds) * count, 600)
        by_kind = {kind: [c for c in claimed if owner[c.message_id] == kind] for kind in kinds}
        ok = GatewayReply(200, "OK")
        spent: dict[str, list[float]] = {kind: [] for kind in kinds}
        for start in range(0, count, BATCH):
            for kind in kinds:  # in turn: each batch at the same moment of the machine
                batch = by_kind[kind][start : start + BATCH]
                outcomes = [DeliveryOutcome.sent(c, ok) for c in batch]
                if kind == "without":  # the outbox's commit hook out, as before webhooks
                    event.remove(Session, "before_commit", outbox._write_entries)
                began = time.perf_counter()
                record_outcomes(session, "bench", outcomes)
                spent[kind].append((time.perf_counter() - began) * 1000)
                if kind == "without":
                    event.listen(Session, "before_commit", outbox._write_entries)
        median = {kind: statistics.median(values) for kind, values in spent.items()}
        for kind in kinds:
            emit(f"webhooks_record_batch_ms_{kind}", median[kind], "ms", dialect=dialect,
                 batch=BATCH, batches=len(spent[kind]))  # fmt: skip
        emit("webhooks_outbox_added_us_per_recipient_not_subscribed",
             (median["plain"] - median["without"]) * 1000 / BATCH, "us", dialect=dialect,
             note="the subscription query, per recipient of a batch")  # fmt: skip
        emit("webhooks_outbox_added_us_per_recipient_subscribed",
             (median["subscribed"] - median["without"]) * 1000 / BATCH, "us", dialect=dialect,
             note="the query and the entries written, per recipient of a batch")  # fmt: skip
        began = time.perf_counter()
        made = pack_outbox(session)
        emit("webhooks_pack_10000_recipients_ms", (time.perf_counter() - began) * 1000, "ms",
             dialect=dialect, deliveries=made,
             note="outbox entries of one send into events of 1,000 with their bodies")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("processes", "cost"))
    parser.add_argument("--database-url", default=None, help="a scratch database (empty)")
    args = parser.parse_args()
    if args.only != "processes":
        record_cost(args.database_url, args.recipients)
    if args.only != "cost":
        with tempfile.TemporaryDirectory(prefix="smspanel-bench-webhooks-") as tmp:
            run(Path(tmp), args.recipients, args.rounds, args.database_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
