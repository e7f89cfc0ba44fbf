"""Benchmarks against real processes on loopback; one JSON line per figure.

    python -m bench [--scenario accept|delivery|all] [--recipients N]

accept:   POST /api/sms/send-bulk with 10,000 recipients under gunicorn (2 workers),
          dispatchers off, so only accepting is measured.
api:      POST /api/sms at concurrency 32 for 10 s with wrk (apt-get install wrk), gunicorn
          with 2 workers: accepted requests/s and latency percentiles.
delivery: one dedicated `flask --app smspanel worker` (concurrency 32) against the mock
          gateway at 0 ms and at 50 ms latency; recipients delivered per second.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.processes import ROOT, App, MockGateway, http, wait_until


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"figure": name, "value": round(value, 2), "unit": unit, **extra}), flush=True)


def gunicorn_app(tmp: Path, gateway_url: str, **settings: str) -> App:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-b",
        "127.0.0.1:{port}",
        "--chdir",
        str(ROOT),
        "run:app",
    ]
    return App(tmp, gateway_url, command=command, **settings)


def numbers(count: int, first: int = 20_000_000) -> list[str]:
    return [str(first + n) for n in range(count)]


def bench_accept(tmp: Path, count: int, rounds: int = 7) -> None:
    mock = MockGateway(tmp).start()
    app = gunicorn_app(tmp, mock.url, SMS_IN_APP_DISPATCHER="false").start(60)
    try:
        token = app.token()
        timings = []
        for round_ in range(rounds):
            body = {"recipients": numbers(count, 20_000_000 + round_ * count), "content": "bench"}
            started = time.perf_counter()
            status, answer = http("POST", f"{app.base}/api/sms/send-bulk", body, token, timeout=60)
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 202, answer
        emit(
            "accept_bulk_ms_median",
            statistics.median(timings),
            "ms",
            recipients=count,
            rounds=rounds,
            best=round(min(timings), 1),
            worst=round(max(timings), 1),
        )
    finally:
        app.stop()
        mock.stop()


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"recipient": "9123 4567", "content": "bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
"""


def bench_api_send(tmp: Path, seconds: int = 10, connections: int = 32) -> None:
    if shutil.which("wrk") is None:
        emit("api_send_rps", 0, "requests/s", error="wrk not installed (apt-get install wrk)")
        return
    mock = MockGateway(tmp).start()
    app = gunicorn_app(tmp, mock.url, SMS_IN_APP_DISPATCHER="false").start(60)
    try:
        script = tmp / "send.lua"
        script.write_text(WRK_SCRIPT.replace("TOKEN", app.token()))
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                   str(script), f"{app.base}/api/sms"]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
        text = output.stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", text, re.M))
        emit("api_send_rps", rps, "requests/s", connections=connections, workers=2,
             p50=percentiles.get("50"), p99=percentiles.get("99"),
             errors=int(non_2xx.group(1)) if non_2xx else 0)  # fmt: skip
    finally:
        app.stop()
        mock.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and all its threads so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_delivery(tmp: Path, count: int, latency_ms: int, concurrency: int = 32) -> None:
    """The send is made with the worker already running, as it is in production.

    Timing starts at the POST; the worker's own start-up is a figure of its own.
    """
    run = tmp / f"delivery-{latency_ms}"
    run.mkdir()
    mock = MockGateway(run, "--latency-ms", str(latency_ms)).start()
    settings = {"SMS_IN_APP_DISPATCHER": "false", "SMS_WORKER_CONCURRENCY": str(concurrency)}
    app = gunicorn_app(run, mock.url, **settings).start(60)
    worker = app.worker()
    try:
        token = app.token()
        launched = time.perf_counter()
        worker.start()
        wait_until(lambda: " running" in worker.output, 60, 0.01, "worker to start")
        startup = time.perf_counter() - launched
        assert worker.proc is not None and mock.proc is not None
        worker_cpu_before = cpu_seconds(worker.proc.pid)
        mock_cpu_before = cpu_seconds(mock.proc.pid)
        started = time.perf_counter()
        status, answer = http(
            "POST",
            f"{app.base}/api/sms/send-bulk",
            {"recipients": numbers(count), "content": "bench"},
            token,
            60,
        )
        assert status == 202, answer
        message_id = answer["data"]["id"]
        wait_until(lambda: mock.received()["total"] >= count, 600, 0.05, "gateway to receive all")
        at_gateway = time.perf_counter() - started

        def final() -> bool:
            return (
                http("GET", f"{app.base}/api/sms/{message_id}", token=token)[1]["data"]["status"]
                != "pending"
            )

        wait_until(final, 600, 0.05, "all statuses final")
        all_final = time.perf_counter() - started
        worker_cpu = cpu_seconds(worker.proc.pid) - worker_cpu_before
        mock_cpu = cpu_seconds(mock.proc.pid) - mock_cpu_before
        times = sorted(float(m["received_at"]) for m in mock.received(messages=True)["messages"])
        emit(
            f"delivery_at_gateway_s_{latency_ms}ms",
            at_gateway,
            "s",
            recipients=count,
            concurrency=concurrency,
            note="from POST send-bulk; worker already running",
        )
        emit(f"delivery_all_final_s_{latency_ms}ms", all_final, "s", recipients=count)
        emit(
            f"delivery_rate_{latency_ms}ms",
            count / all_final,
            "recipients/s",
            concurrency=concurrency,
        )
        emit(
            f"delivery_gateway_span_s_{latency_ms}ms",
            times[-1] - times[0],
            "s",
            note="first to last request the mock received",
        )
        emit(
            f"delivery_cpu_ms_per_recipient_{latency_ms}ms",
            worker_cpu * 1000 / count,
            "ms",
            mock=round(mock_cpu * 1000 / count, 3),
            note="worker process from the POST on; mock gateway beside it",
        )
        emit(f"delivery_worker_startup_s_{latency_ms}ms", startup, "s", note="launch to polling")
    finally:
        worker.stop()
        app.stop()
        mock.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["accept", "api", "delivery", "all"], default="all")
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.scenario in ("accept", "all"):
            (tmp / "accept").mkdir()
            bench_accept(tmp / "accept", args.recipients)
        if args.scenario in ("api", "all"):
            (tmp / "api").mkdir()
            bench_api_send(tmp / "api")
        if args.scenario in ("delivery", "all"):
            bench_delivery(tmp, args.recipients, 0)
            bench_delivery(tmp, args.recipients, 50)
    return 0


if __name__ == "__main__":
    sys.exit(main())
