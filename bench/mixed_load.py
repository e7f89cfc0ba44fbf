"""Users at work while a 100,000-recipient send is being delivered (issue 6, target 5).

    python -m bench.mixed_load [--seconds 30] [--clients 4]

gunicorn with 2 workers and the host's dispatcher process they supervise (the default
deployment), against the mock gateway at 0 ms. Once the bulk send is accepted and delivery
is under way, each client loops over POST /api/sms, GET /api/sms/<bulk id> and GET /history
(a web session).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

from bench.harness import Client, Timings, drive, emit, numbers
from loopback import App, MockGateway, http, wait_until

BULK = 100_000


def run(
    tmp: Path,
    seconds: float = 30,
    clients: int = 4,
    dispatch: str = "in-app",
    concurrency: str = "8",
) -> None:
    mock = MockGateway(tmp).start()
    in_app = "true" if dispatch == "in-app" else "false"
    settings = {"SMS_WORKER_CONCURRENCY": concurrency, "SMS_IN_APP_DISPATCHER": in_app}
    app = App.gunicorn(tmp, mock.url, **settings).start(60)
    worker = app.worker() if dispatch == "worker" else None
    try:
        if worker:
            worker.start()
        token = app.token()
        body = {"recipients": numbers(BULK), "content": "mixed load bench"}
        status, answer = http("POST", f"{app.base}/api/sms/send-bulk", body, token, 120)
        assert status == 202, answer
        bulk_id = answer["data"]["id"]
        wait_until(lambda: mock.received()["total"] > 1000, 60, 0.2, "delivery to start")
        at_start = mock.received()["total"]

        single = {"recipient": "9123 4567", "content": "meanwhile"}
        requests = {
            "POST /api/sms": (lambda c: c.request("POST", "/api/sms", single), 202),
            "GET /api/sms/<id>": (lambda c: c.request("GET", f"/api/sms/{bulk_id}"), 200),
        }
        api_clients = [Client(app.base, token) for _ in range(clients)]
        timings = Timings()
        web_clients = [Client(app.base).log_in() for _ in range(clients)]
        history = {"GET /history": (lambda c: c.request("GET", "/history"), 200)}

        web = threading.Thread(target=drive, args=(web_clients, history, seconds, timings))
        web.start()
        drive(api_clients, requests, seconds, timings)
        web.join()

        delivered = mock.received()["total"] - at_start
        for kind in (*requests, *history):
            summary = timings.summary(kind)
            emit(f"mixed_p99_ms {kind}", summary["p99"], "ms", at_most=500, dispatch=dispatch,
                 p50=summary["p50"], requests=summary["requests"], errors=summary["errors"],
                 first_errors=timings.errors.get(kind, [])[:3])  # fmt: skip
        emit("mixed_errors", sum(len(e) for e in timings.errors.values()), "errors", at_most=1)
        emit("mixed_delivery_rate_under_load", delivered / seconds, "recipients/s",
             bulk=BULK, clients=clients * 2, seconds=seconds, dispatch=dispatch,
             concurrency=concurrency)  # fmt: skip
    finally:
        if worker:
            worker.stop()
        app.stop()
        mock.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--dispatch", choices=["in-app", "worker"], default="in-app",
                        help="deliver from gunicorn's workers or one `flask worker`")  # fmt: skip
    parser.add_argument("--concurrency", default="8", help="SMS_WORKER_CONCURRENCY")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as name:
        run(Path(name), args.seconds, args.clients, args.dispatch, args.concurrency)


if __name__ == "__main__":
    main()
