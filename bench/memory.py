"""Resident memory: `python run.py` and gunicorn idle, and across a 100,000-recipient send.

python -m bench.memory
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench.harness import Client, emit, gunicorn_app, numbers, rss_mb
from loopback import App, MockGateway, http, wait_until

SETTLE_SECONDS = 3


def idle_rss(app: App) -> float:
    """RSS once the app has served a page and the API and then sat still."""
    client = Client(app.base)
    client.log_in()
    client.request("GET", "/")
    client.request("GET", "/api/health")
    time.sleep(SETTLE_SECONDS)
    return rss_mb(app.proc.pid)  # type: ignore[union-attr]


def bench_idle(tmp: Path) -> None:
    (tmp / "run").mkdir()
    app = App(tmp / "run", None).start(60)  # defaults: SQLite, simulated gateway
    try:
        emit("rss_run_py_idle_mb", idle_rss(app), "MB", at_most=62,
             note="python run.py with its in-app dispatcher, first start")  # fmt: skip
    finally:
        app.stop()
    (tmp / "gunicorn").mkdir()
    app = gunicorn_app(tmp / "gunicorn", None).start(60)
    try:
        emit("rss_gunicorn_2_workers_idle_mb", idle_rss(app), "MB", at_most=150,
             note="master and 2 workers, summed RSS, first start")  # fmt: skip
    finally:
        app.stop()


def bench_send(tmp: Path, count: int = 100_000, limit_s: float = 600) -> None:
    """`python run.py` delivering a large send itself: peak and lasting growth."""
    (tmp / "send").mkdir()
    mock = MockGateway(tmp / "send").start()
    app = App(tmp / "send", mock.url, SMS_WORKER_CONCURRENCY="32").start(60)
    try:
        before = idle_rss(app)
        token = app.token()
        peak = before
        sampling = True

        def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, rss_mb(app.proc.pid))  # type: ignore[union-attr]
                time.sleep(0.25)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        try:
            body = {"recipients": numbers(count), "content": "memory bench"}
            status, answer = http("POST", f"{app.base}/api/sms/send-bulk", body, token, 120)
            assert status == 202, answer
            message_id = answer["data"]["id"]

            def final() -> bool:
                reply = http("GET", f"{app.base}/api/sms/{message_id}", token=token)[1]
                return reply["data"]["status"] != "pending"

            wait_until(final, limit_s, 1.0, "the send to finish")
        finally:
            sampling = False
            sampler.join()
        elapsed = time.perf_counter() - started
        time.sleep(SETTLE_SECONDS)
        after = rss_mb(app.proc.pid)  # type: ignore[union-attr]
        emit("rss_growth_over_100k_send_mb", after - before, "MB", before=round(before, 1),
             peak=round(peak, 1), after=round(after, 1), seconds=round(elapsed, 1),
             note="python run.py accepting and delivering it in-process")  # fmt: skip
    finally:
        app.stop()
        mock.stop()


def run(tmp: Path, recipients: int = 100_000) -> None:
    bench_idle(tmp)
    bench_send(tmp, recipients)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as name:
        run(Path(name))
