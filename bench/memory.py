"""Resident memory: `python run.py` and gunicorn idle, and across a 100,000-recipient send.

python -m bench.memory

The serving processes and the host's dispatcher process (their child) are reported apart:
the targets are the serving processes', and the dispatcher is a process of its own.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench.harness import Client, emit, numbers, rss_by_role_mb
from loopback import App, MockGateway, http, wait_until

SETTLE_SECONDS = 3


def idle_rss(app: App) -> dict[str, float]:
    """RSS by role once the app has served a page and the API and then sat still."""
    client = Client(app.base)
    client.log_in()
    client.request("GET", "/")
    client.request("GET", "/api/health")
    time.sleep(SETTLE_SECONDS)
    return rss_by_role_mb(app.proc.pid)  # type: ignore[union-attr]


def bench_idle(tmp: Path) -> None:
    (tmp / "run").mkdir()
    app = App(tmp / "run", None).start(60)  # defaults: SQLite, simulated gateway
    try:
        rss = idle_rss(app)
        emit("rss_run_py_idle_mb", rss["serving"], "MB", at_most=62,
             dispatcher=round(rss["dispatcher"], 1),
             note="python run.py, first start; its dispatcher process apart")  # fmt: skip
    finally:
        app.stop()
    (tmp / "gunicorn").mkdir()
    app = App.gunicorn(tmp / "gunicorn", None).start(60)
    try:
        rss = idle_rss(app)
        emit("rss_gunicorn_2_workers_idle_mb", rss["serving"], "MB", at_most=150,
             dispatcher=round(rss["dispatcher"], 1),
             note="master and 2 workers, summed RSS, first start; dispatcher apart")  # fmt: skip
    finally:
        app.stop()


def bench_send(tmp: Path, count: int = 100_000, limit_s: float = 600) -> None:
    """`python run.py` accepting a large send and its dispatcher delivering it: peak and
    lasting growth of each."""
    (tmp / "send").mkdir()
    mock = MockGateway(tmp / "send").start()
    app = App(tmp / "send", mock.url, SMS_WORKER_CONCURRENCY="32").start(60)
    try:
        before = idle_rss(app)
        token = app.token()
        peak = dict(before)
        sampling = True

        def sample() -> None:
            while sampling:
                for role, value in rss_by_role_mb(app.proc.pid).items():  # type: ignore[union-attr]
                    peak[role] = max(peak[role], value)
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
        after = rss_by_role_mb(app.proc.pid)  # type: ignore[union-attr]
        for role, label in (("serving", "python run.py"), ("dispatcher", "its dispatcher")):
            emit(f"rss_growth_over_100k_send_mb {role}", after[role] - before[role], "MB",
                 before=round(before[role], 1), peak=round(peak[role], 1),
                 after=round(after[role], 1), seconds=round(elapsed, 1),
                 note=f"{label}, across accepting and delivering it")  # fmt: skip
    finally:
        app.stop()
        mock.stop()


def run(tmp: Path, recipients: int = 100_000) -> None:
    bench_idle(tmp)
    bench_send(tmp, recipients)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as name:
        run(Path(name))
