"""Benchmarks against real processes on loopback; one JSON line per figure, with its target.

    python -m bench [--scenario NAME] [--recipients N]      (make bench runs them all)

accept:   POST /api/sms/send-bulk with 10,000 and 100,000 recipients under gunicorn
          (2 workers), dispatchers off, so only accepting is measured; memory growth.
api:      POST /api/sms at concurrency 32 for 10 s with wrk (apt-get install wrk), gunicorn
          with 2 workers: accepted requests/s, latency percentiles, CPU per request.
delivery: one dedicated `flask --app smspanel worker` (concurrency 32) against the mock
          gateway at 0 ms and at 50 ms latency; recipients delivered per second.
pages:    history, dashboard and API pages over 1,000,000 messages, and zh-Hant beside English
          (bench/pages.py).
mixed:    API and history latency while a 100,000 send is delivered (bench/mixed_load.py).
memory:   RSS of run.py and gunicorn, idle and across a 100,000 send (bench/memory.py).
deploy:   the README's default commands under wrk, delivery on (bench/deploy.py).
exports:  CSV download of 100,000 recipients: first byte, whole file, RSS (bench/exports.py).
uploads:  a 100,000-row CSV through /send/upload, its check page and its send (bench/uploads.py).
campaigns: cancel of a 100,000 send in progress; a personalised 100,000 send: accept time
          and delivery rate beside a plain one (bench/campaigns.py).
dnc:      a 2,000,000-number do-not-call register replacing another with `import-dnc`,
          while sends and pages are timed (bench/dnc.py).
registers: a 100,000 commercial send accepted against 2,000,000 do-not-call numbers and
          100,000 opt-outs, in process on SQLite (bench/registers.py; --database-url there).
quotas:   what the monthly quota check adds to POST /api/sms, in process on SQLite
          (bench/quotas.py; --database-url there).
fairness: a later single SMS and an urgent one while a 100,000 send is delivered; claim
          throughput with the fair order beside the previous one (bench/fairness.py).
idempotency: POST /api/sms with an Idempotency-Key beside without, wrk on gunicorn -w 2
          with delivery on (bench/idempotency.py).
metrics:  GET /metrics over 1,000,000 messages, 100,000 recipients due, under gunicorn
          (bench/metrics.py; --database-url there).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    campaigns,
    deploy,
    dnc,
    exports,
    fairness,
    idempotency,
    memory,
    metrics,
    mixed_load,
    quotas,
    registers,
    uploads,
)
from bench import pages as bench_pages
from bench.harness import MOBILE_BLOCK, cpu_seconds, emit, numbers, rss_mb, run_wrk
from loopback import App, MockGateway, http, wait_until


def bench_accept(tmp: Path, count: int, rounds: int = 7) -> None:
    """Accepting bulk sends of 10,000 and 100,000; the web tier's memory before and after."""
    mock = MockGateway(tmp).start()
    app = App.gunicorn(tmp, mock.url, SMS_IN_APP_DISPATCHER="false").start(60)
    try:
        token = app.token()
        first = MOBILE_BLOCK
        rss_before = rss_mb(app.proc.pid)  # type: ignore[union-attr]
        for size, target_ms, repeat in ((count, 200, rounds), (10 * count, 2000, 3)):
            timings = []
            for _ in range(repeat):
                body = {"recipients": numbers(size, first), "content": "bench"}
                first += size
                started = time.perf_counter()
                status, answer = http("POST", f"{app.base}/api/sms/send-bulk", body, token, 120)
                timings.append((time.perf_counter() - started) * 1000)
                assert status == 202, answer
            emit(f"accept_bulk_{size}_ms_median", statistics.median(timings), "ms",
                 at_most=target_ms, recipients=size, rounds=repeat,
                 best=round(min(timings), 1), worst=round(max(timings), 1))  # fmt: skip
        rss_after = rss_mb(app.proc.pid)  # type: ignore[union-attr]
        emit("accept_web_tier_rss_growth_mb", rss_after - rss_before, "MB",
             before=round(rss_before, 1), after=round(rss_after, 1), workers=2,
             note="gunicorn master and workers, across all the sends above")  # fmt: skip
    finally:
        app.stop()
        mock.stop()


def bench_api_send(tmp: Path, seconds: int = 10, connections: int = 32) -> None:
    if shutil.which("wrk") is None:
        emit("api_send_rps", 0, "requests/s", error="wrk not installed (apt-get install wrk)")
        return
    mock = MockGateway(tmp).start()
    app = App.gunicorn(tmp, mock.url, SMS_IN_APP_DISPATCHER="false").start(60)
    try:
        cpu_before = cpu_seconds(app.proc.pid)  # type: ignore[union-attr]
        figures = run_wrk(tmp, f"{app.base}/api/sms", app.token(), seconds, connections)
        cpu_used = cpu_seconds(app.proc.pid) - cpu_before  # type: ignore[union-attr]
        errors = int(figures["errors"])
        emit("api_send_rps", figures["rps"], "requests/s", at_least=1000, connections=connections,
             workers=2, errors=errors)  # fmt: skip
        emit("api_send_p99_ms", figures["p99"], "ms", at_most=100, p50=figures["p50"],
             errors=errors)  # fmt: skip
        # CPU per request is the figure a busy machine does not distort.
        emit("api_send_app_cpu_ms_per_request", cpu_used * 1000 / max(figures["requests"], 1),
             "ms", note="CPU of gunicorn master and workers / requests served")  # fmt: skip
    finally:
        app.stop()
        mock.stop()


def bench_delivery(tmp: Path, count: int, latency_ms: int, concurrency: int = 32) -> None:
    """The send is made with the worker already running, as it is in production.

    Timing starts at the POST; the worker's own start-up is a figure of its own.
    """
    run = tmp / f"delivery-{latency_ms}"
    run.mkdir()
    mock = MockGateway(run, "--latency-ms", str(latency_ms)).start()
    settings = {"SMS_IN_APP_DISPATCHER": "false", "SMS_WORKER_CONCURRENCY": str(concurrency)}
    app = App.gunicorn(run, mock.url, **settings).start(60)
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
        # Issue 6: at 0 ms all at the gateway within 4 s and final within 5 s; at 50 ms 400/s.
        at_zero = {"at_most": 4.0} if latency_ms == 0 else {}
        emit(
            f"delivery_at_gateway_s_{latency_ms}ms",
            at_gateway,
            "s",
            **at_zero,
            recipients=count,
            concurrency=concurrency,
            note="from POST send-bulk; worker already running",
        )
        final_target = {"at_most": 5.0} if latency_ms == 0 else {}
        emit(f"delivery_all_final_s_{latency_ms}ms", all_final, "s", **final_target,
             recipients=count)  # fmt: skip
        rate_target = {"at_least": 400.0} if latency_ms == 50 else {}
        emit(f"delivery_rate_{latency_ms}ms", count / all_final, "recipients/s", **rate_target,
             concurrency=concurrency)  # fmt: skip
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


SCENARIOS = (
    "deploy",
    "accept",
    "api",
    "delivery",
    "pages",
    "mixed",
    "memory",
    "exports",
    "uploads",
    "campaigns",
    "dnc",
    "registers",
    "quotas",
    "fairness",
    "idempotency",
    "metrics",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as tmp_name:
        for scenario in chosen:
            tmp = Path(tmp_name) / scenario
            tmp.mkdir()
            if scenario == "accept":
                bench_accept(tmp, args.recipients)
            elif scenario == "api":
                bench_api_send(tmp)
            elif scenario == "delivery":
                bench_delivery(tmp, args.recipients, 0)
                bench_delivery(tmp, args.recipients, 50)
            elif scenario == "pages":
                bench_pages.run(tmp)
            elif scenario == "mixed":
                mixed_load.run(tmp)
            elif scenario == "memory":
                memory.run(tmp)
            elif scenario == "deploy":
                deploy.run(tmp)
            elif scenario == "exports":
                exports.run(tmp)
            elif scenario == "uploads":
                uploads.run(tmp)
            elif scenario == "campaigns":
                campaigns.run(tmp)
            elif scenario == "dnc":
                dnc.run(tmp)
            elif scenario == "registers":
                registers.run(None, 100_000, 2_000_000, 100_000)
            elif scenario == "quotas":
                quotas.run(None, 1000)
            elif scenario == "fairness":
                fairness.run(tmp)
            elif scenario == "idempotency":
                idempotency.run(tmp, 5, 4)
            elif scenario == "metrics":
                metrics.run(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
