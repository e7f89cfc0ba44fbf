"""/metrics under gunicorn: whichever worker answers, it shows the counts of every worker
and of the host's dispatcher process, and a server start begins them again from zero."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from loopback import App, http, wait_until
from tests.metrics_reading import value

pytestmark = pytest.mark.e2e

RECIPIENTS = 30
PROBES = 40


def scrape(app: App) -> str:
    status, text = http("GET", f"{app.base}/metrics")
    assert status == 200, text
    return text


def writers(instance: Path) -> dict[int, bytes]:
    """The processes with a counter file in the instance's metrics folder, and their command."""
    found = {}
    for path in (instance / "metrics").glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            found[pid] = b""
    return found


def probe_concurrently(app: App) -> None:
    """PROBES requests from 8 threads at once: sync workers take one at a time, so both
    answer some."""

    def probe(n: int) -> None:
        for _ in range(n):
            assert http("GET", f"{app.base}/health/live")[0] == 200

    threads = [threading.Thread(target=probe, args=(PROBES // 8,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_every_scrape_adds_up_both_workers_and_the_dispatcher(tmp_path, mock, fresh_database):
    app = App.gunicorn(tmp_path, mock.url, workers=2, DATABASE_URL=fresh_database).start(60)
    try:
        token = app.token()
        numbers = [f"6{n:07d}" for n in range(RECIPIENTS)]
        status, _ = app.api(
            "POST", "/api/sms/send-bulk", {"recipients": numbers, "content": "m"}, token
        )
        assert status == 202
        wait_until(
            lambda: value(scrape(app), "smspanel_recipients_total", status="sent") == RECIPIENTS,
            30,
            what="the dispatcher's sends on /metrics",
        )
        probe_concurrently(app)

        processes = writers(app.instance)
        dispatcher = [pid for pid, command in processes.items() if b"smspanel\0worker" in command]
        serving = [pid for pid, command in processes.items() if b"gunicorn" in command]
        assert len(dispatcher) == 1, processes
        assert len(serving) == 2, processes  # both workers counted requests of their own

        scrapes = [scrape(app) for _ in range(6)]  # answered by one worker or the other
        for text in scrapes:
            assert value(text, "smspanel_recipients_total", status="pending") == RECIPIENTS
            assert value(text, "smspanel_recipients_total", status="sent") == RECIPIENTS
            assert (
                value(text, "smspanel_gateway_request_seconds_count", result="accepted")
                == RECIPIENTS
            )
            assert value(text, "smspanel_queue_depth") == 0
            assert (
                value(text, "smspanel_http_requests_total", endpoint="health.live", status="200")
                == PROBES
            )
    finally:
        app.stop()

    # The same instance folder and database, a new server.
    again = App.gunicorn(tmp_path, mock.url, workers=2, DATABASE_URL=fresh_database).start(60)
    try:
        text = scrape(again)
        assert value(text, "smspanel_recipients_total", status="sent") == 0  # a new start
        assert (
            value(text, "smspanel_http_requests_total", endpoint="health.live", status="200") == 0
        )
        assert set(writers(again.instance)).isdisjoint(processes)  # the old files are gone
    finally:
        again.stop()
