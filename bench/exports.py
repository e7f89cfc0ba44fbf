"""CSV export of 100,000 recipients (issue 11): first byte, whole file, the worker's memory.

    python -m bench.exports [--recipients N] [--rounds N]

gunicorn with 2 workers, dispatchers off. Two sends of 100,000 are accepted through the API
by a server started for that alone (accepting leaves its worker larger), then given outcomes
in the database as a delivered send would have (sent with a time; one in 20 failed with a
gateway error; the second made personalised, with a text per recipient). A fresh server then
serves each file to a streaming client on loopback, from the web (logged in) and from the
API (token), timing the first byte and the last. The serving workers' RSS is sampled
throughout: the figure is the most any one worker rose above its RSS once warmed up by small
exports, so that it counts the export and not first-use imports.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

from bench.harness import Client, emit, numbers, process_tree, rss_mb
from loopback import App, http

FIRST_BYTE_TARGET_MS = 200
TOTAL_TARGET_S = 3
RSS_TARGET_MB = 20
SAMPLE_SECONDS = 0.02
PERSONALISED_TEXT = (
    "Dear Chan Tai Man 陳大文, your appointment at Kwun Tong clinic is on 2026-03-02 09:30."
)


@dataclass
class Fetched:
    first_byte_ms: float
    total_s: float
    size: int
    rows: int


def fetch(base: str, path: str, headers: dict[str, str]) -> Fetched:
    """GET `path` and read the body as it arrives, as a browser saving a download does."""
    parts = urlsplit(base)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    assert response.status == 200, (response.status, response.read()[:300])
    first = response.read1(65536)
    first_byte = time.perf_counter() - started
    assert first.startswith("\ufeff".encode()), first[:50]
    size, rows = len(first), first.count(b"\r\n")
    while chunk := response.read1(65536):
        size += len(chunk)
        rows += chunk.count(b"\r\n")
    total = time.perf_counter() - started
    connection.close()
    return Fetched(first_byte * 1000, total, size, rows - 1)


def serving_workers(master: int) -> list[int]:
    """gunicorn's worker processes (the master's children)."""
    return [pid for pid in process_tree(master) if pid != master]


class RssSampler:
    """Each worker's RSS from a baseline on, sampled in a thread: its peak since `reset`."""

    def __init__(self, master: int) -> None:
        self.workers = serving_workers(master)
        self.baseline = {pid: rss_mb(pid) for pid in self.workers}
        self.peak = dict(self.baseline)
        self._running = True
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()

    def _sample(self) -> None:
        while self._running:
            for pid in self.workers:
                self.peak[pid] = max(self.peak[pid], rss_mb(pid))
            time.sleep(SAMPLE_SECONDS)

    def reset(self) -> None:
        self.peak = {pid: rss_mb(pid) for pid in self.workers}

    def stop(self) -> None:
        self._running = False
        self._thread.join()

    def growth(self) -> tuple[float, int]:
        """The most any one worker has grown over its baseline (at its peak), and which."""
        pid = max(self.workers, key=lambda each: self.peak[each] - self.baseline[each])
        return self.peak[pid] - self.baseline[pid], pid


def delivered_send(app: App, token: str, count: int, first: int, personalised: bool) -> int:
    """A send of `count` accepted through the API, then given outcomes in the database."""
    status, answer = http(
        "POST",
        f"{app.base}/api/sms/send-bulk",
        {"recipients": numbers(count, first), "content": "Export bench notice 出口"},
        token,
        120,
    )
    assert status == 202, answer
    message_id = answer["data"]["id"]
    engine = create_engine(app.database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE recipients SET attempts = 1, sent_at = updated_at, "
                "status = CASE WHEN id % 20 = 0 THEN 'failed' ELSE 'sent' END, "
                "error_message = CASE WHEN id % 20 = 0 "
                "THEN 'Gateway refused: 401 Unauthorized' END"
                + (", content = :content" if personalised else "")
                + " WHERE message_id = :id"
            ),
            {"id": message_id, "content": PERSONALISED_TEXT},
        )
        connection.execute(
            text(
                "UPDATE messages SET status = 'partial', sent_count = :sent, failed_count = "
                ":failed, personalised = :personalised, completed_at = created_at WHERE id = :id"
            ),
            {
                "id": message_id,
                "sent": count - count // 20,
                "failed": count // 20,
                "personalised": personalised,
            },
        )
    engine.dispose()
    return message_id


def report(name: str, runs: list[Fetched], memory: RssSampler) -> None:
    rounds = len(runs)
    emit(f"{name}_first_byte_ms", statistics.median(r.first_byte_ms for r in runs), "ms",
         at_most=FIRST_BYTE_TARGET_MS, rounds=rounds,
         worst=round(max(r.first_byte_ms for r in runs), 1))  # fmt: skip
    emit(f"{name}_total_s", statistics.median(r.total_s for r in runs), "s",
         at_most=TOTAL_TARGET_S, rounds=rounds, mb=round(runs[0].size / 2**20, 1),
         worst=round(max(r.total_s for r in runs), 2))  # fmt: skip
    growth, pid = memory.growth()
    emit(f"{name}_worker_rss_growth_mb", growth, "MB", at_most=RSS_TARGET_MB,
         baseline=round(memory.baseline[pid], 1), peak=round(memory.peak[pid], 1),
         workers=len(memory.workers),
         note="the gunicorn worker that grew most: its peak during these downloads over "
         "its RSS when warm, before any large export")  # fmt: skip


def run(tmp: Path, count: int = 100_000, rounds: int = 3) -> None:
    # The sends are made by a server of their own: accepting 100,000 numbers leaves a worker
    # larger, and the figure is the export's growth alone.
    app = App.gunicorn(tmp, None, SMS_IN_APP_DISPATCHER="false").start(60)
    try:
        token = app.token()
        sends = {
            "plain": delivered_send(app, token, count, 61_000_000, personalised=False),
            "personalised": delivered_send(app, token, count, 63_000_000, personalised=True),
        }
        small = delivered_send(app, token, 50, 64_000_000, personalised=True)
    finally:
        app.stop()
    app = App.gunicorn(tmp, None, SMS_IN_APP_DISPATCHER="false").start(60)
    try:
        token = app.token()
        web = Client(app.base).log_in()
        routes = {
            "web": ("/history/{id}/export.csv", {"Cookie": web.headers["Cookie"]}),
            "api": ("/api/sms/{id}/recipients.csv", {"Authorization": f"Bearer {token}"}),
        }
        for path, headers in routes.values():  # every worker has served an export before
            for _ in range(6):
                fetch(app.base, path.format(id=small), headers)
        assert app.proc is not None
        memory = RssSampler(app.proc.pid)  # the baseline: warmed up, no large export yet
        try:
            for kind, message_id in sends.items():
                for route, (path, headers) in routes.items():
                    memory.reset()
                    runs = [
                        fetch(app.base, path.format(id=message_id), headers) for _ in range(rounds)
                    ]
                    time.sleep(SAMPLE_SECONDS * 3)
                    assert all(each.rows == count for each in runs), [each.rows for each in runs]
                    report(f"export_{count}_{kind}_{route}", runs, memory)
        finally:
            memory.stop()
    finally:
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-") as name:
        run(Path(name), args.recipients, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
