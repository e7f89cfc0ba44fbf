"""The README's own deployment under load, delivery included (issue 10).

    python -m bench.deploy [--seconds 10] [--only NAME]

Each deployment is started exactly as a user would start it, from the checkout with no
settings but the gateway's address (the mock, at 0 ms) and the admin password the benchmark
logs in with; wrk then posts single SMS at concurrency 32 for 10 s. Figures per deployment:
accepted requests/s, p50/p99, errors, and how long after the run the gateway had every
accepted message.

default   gunicorn -w 2 -b 127.0.0.1:PORT run:app  (one supervised dispatcher process)
bulk      the same while a 10,000-recipient send is being delivered
w4        gunicorn -w 4 -b 127.0.0.1:PORT run:app
run_py    python run.py
split     SMS_IN_APP_DISPATCHER=false, gunicorn -w 2, and one `flask --app smspanel worker`
accept    SMS_IN_APP_DISPATCHER=false, gunicorn -w 2, nothing delivering
accept_w4 the same with gunicorn -w 4: what four workers cost on their own, delivery aside
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.harness import emit, numbers, run_wrk
from loopback import ROOT, App, MockGateway, Process, http, wait_until

CONNECTIONS = 32
BULK = 10_000
DRAIN_TIMEOUT = 60.0


# name: (gunicorn workers, or None for python run.py; settings; label)
DEPLOYMENTS: dict[str, tuple[int | None, dict[str, str], str]] = {
    "default": (2, {}, "gunicorn -w 2 run:app"),
    "bulk": (2, {}, "gunicorn -w 2 run:app while 10,000 recipients are delivered"),
    "w4": (4, {}, "gunicorn -w 4 run:app"),
    "run_py": (None, {}, "python run.py"),
    "split": (2, {"SMS_IN_APP_DISPATCHER": "false"}, "gunicorn -w 2 + flask worker"),
    "accept": (2, {"SMS_IN_APP_DISPATCHER": "false"}, "gunicorn -w 2, no delivery"),
    "accept_w4": (4, {"SMS_IN_APP_DISPATCHER": "false"}, "gunicorn -w 4, no delivery"),
}


def measure(tmp: Path, name: str, seconds: int) -> None:
    workers, settings, label = DEPLOYMENTS[name]
    run = tmp / name
    run.mkdir()
    mock = MockGateway(run).start()
    if workers is None:
        app = App(run, mock.url, cwd=ROOT, test_settings=False, **settings)
    else:
        app = App.gunicorn(run, mock.url, workers, test_settings=False, **settings)
    worker: Process | None = None
    try:
        app.start(60)
        if name == "split":
            worker = app.worker().start()
            wait_until(lambda: " running" in worker.output, 60, 0.05, "worker to start")  # type: ignore[union-attr]
        token = app.token()
        expected = 0
        if name == "bulk":
            body = {"recipients": numbers(BULK), "content": "bulk during the run"}
            status, answer = http("POST", f"{app.base}/api/sms/send-bulk", body, token, 60)
            assert status == 202, answer
            expected += BULK
        figures = run_wrk(run, f"{app.base}/api/sms", token, seconds, CONNECTIONS)
        ended = time.perf_counter()
        expected += int(figures["accepted"])
        drained = None
        if not name.startswith("accept"):
            wait_until(lambda: mock.received()["total"] >= expected, DRAIN_TIMEOUT, 0.05,
                       "the gateway to receive every accepted message")  # fmt: skip
            drained = time.perf_counter() - ended
        targets = {"default": (600, 100), "bulk": (None, 200), "w4": (600, 100)}
        at_least, at_most = targets.get(name, (None, None))
        common = {"deployment": label, "connections": CONNECTIONS, "seconds": seconds,
                  "errors": int(figures["errors"])}  # fmt: skip
        emit(f"deploy_{name}_accepted_per_s", figures["rps"], "requests/s", at_least=at_least,
             accepted=int(figures["accepted"]), **common)  # fmt: skip
        emit(f"deploy_{name}_p99_ms", figures["p99"], "ms", at_most=at_most,
             p50=round(figures["p50"], 2), **common)  # fmt: skip
        if drained is not None:
            emit(f"deploy_{name}_all_at_gateway_after_run_s", drained, "s", at_most=5.0,
                 messages=expected, note="from the end of the wrk run")  # fmt: skip
    finally:
        if worker:
            worker.stop()
        app.stop()
        mock.stop()


def run(tmp: Path, seconds: int = 10, only: list[str] | None = None) -> None:
    if shutil.which("wrk") is None:
        emit("deploy_default_accepted_per_s", 0, "requests/s", error="wrk not installed")
        return
    for name in only or DEPLOYMENTS:
        measure(tmp, name, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", action="append", choices=list(DEPLOYMENTS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as name:
        run(Path(name), args.seconds, args.only)


if __name__ == "__main__":
    main()
