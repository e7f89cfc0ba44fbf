"""The do-not-call register (issue 12): importing 2,000,000 numbers while people work.

    python -m bench.dnc [--numbers 2000000] [--via command|web] [--database-url URL]
                        [--clients 2]

The README's deployment (gunicorn -w 2 and the dispatcher it supervises, the mock gateway
at 0 ms). A first copy of the register is imported, then a second one of the same size
replaces it (the usual case), either with `flask --app smspanel import-dnc FILE` (the
operators' command) or through the /admin/dnc upload (the load then runs in a thread of
a serving process). Meanwhile API clients loop over POST /api/sms and GET /api/sms, and web
clients over GET /history and GET /admin/dnc. Figures: the import's seconds until the new
copy is active (target < 60 s), until the replaced copy's rows are deleted, and each
request's p99 during the import (target < 500 ms), beside its p99 in the 15 s before.

`--database-url postgresql+psycopg://…/x` or `mysql+pymysql://…/x` runs it on that server,
in a database of its own made for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from bench.harness import Client, Timings, emit, percentile
from bench.uploads import csrf_token, post_file
from loopback import ROOT, App, MockGateway

NUMBERS = 2_000_000
TARGET_S = 60.0
TARGET_P99_MS = 500.0
BASELINE_S = 15.0


def register_file(path: Path, count: int, seed: int) -> Path:
    """`count` distinct mobile-like numbers in random order, one a line, with a header."""
    chosen = random.Random(seed).sample(range(50_000_000, 100_000_000), count)
    path.write_text("Telephone number\n" + "\n".join(map(str, chosen)) + "\n")
    return path


def server_database(url: str | None) -> tuple[str | None, object]:
    """A new database on the server `url` names (None: SQLite in the instance folder)."""
    if not url:
        return None, lambda: None
    server = make_url(url)
    name = f"smspanel_bench_dnc_{secrets.token_hex(3)}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    postgres = server.get_dialect().name == "postgresql"
    with engine.connect() as connection:
        if postgres:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            connection.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )

    def drop() -> None:
        with engine.connect() as connection:
            if postgres:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def import_with_command(app: App, path: Path, niceness: int | None = None) -> tuple[float, str]:
    """Seconds the command took in all, and its output."""
    started = time.perf_counter()
    nice = ["--nice", str(niceness)] if niceness is not None else []
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "smspanel", "import-dnc", *nice, str(path)],
        env=app.env, cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return time.perf_counter() - started, done.stdout


def newest_import(database_url: str) -> tuple[int, str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT id, status FROM dnc_imports ORDER BY id DESC LIMIT 1")
            ).one()
            return int(row[0]), str(row[1])
    finally:
        engine.dispose()


def rows_left(database_url: str, import_id: int) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM dnc_numbers WHERE import_id = :i"), {"i": import_id}
                ).scalar_one()
            )
    finally:
        engine.dispose()


def import_through_the_web(app: App, path: Path) -> tuple[float, float]:
    """Seconds until the upload's redirect, and until the new copy is active."""
    client = Client(app.base).log_in()
    client.connection.timeout = 300
    _, page = client.request("GET", "/admin/dnc")
    before, _ = newest_import(app.database_url)
    started = time.perf_counter()
    status, location = post_file(
        client, "/admin/dnc", {"csrf_token": csrf_token(page)}, path.name, path.read_bytes()
    )
    answered = time.perf_counter() - started
    assert status == 302 and location.endswith("/admin/dnc"), (status, location)
    while True:
        import_id, state = newest_import(app.database_url)
        if import_id > before and state in ("active", "failed"):
            assert state == "active", f"the web import {import_id} failed"
            return answered, time.perf_counter() - started
        time.sleep(0.1)


def run(
    tmp: Path,
    count: int = NUMBERS,
    via: str = "command",
    database_url: str | None = None,
    clients: int = 2,
    niceness: int | None = None,
) -> None:
    url, drop = server_database(database_url)
    settings = {"DATABASE_URL": url} if url else {}
    mock = MockGateway(tmp).start()
    app = App.gunicorn(tmp, mock.url, 2, test_settings=False, **settings).start(120)
    database = make_url(app.database_url).get_dialect().name
    try:
        first = register_file(tmp / "dnc-first.txt", count, 1)
        import_with_command(app, first)
        old_id, _ = newest_import(app.database_url)
        second = register_file(tmp / "dnc-second.txt", count, 2)

        token = app.token()
        baseline, timings = Timings(), Timings()
        sink = [baseline]  # where the clients' timings go: before the import, then during it
        stop = threading.Event()
        single = {"recipient": "9123 4567", "content": "meanwhile"}
        api_requests = {
            "POST /api/sms": (lambda c: c.request("POST", "/api/sms", single), 202),
            "GET /api/sms": (lambda c: c.request("GET", "/api/sms"), 200),
        }
        web_requests = {
            "GET /history": (lambda c: c.request("GET", "/history"), 200),
            "GET /admin/dnc": (lambda c: c.request("GET", "/admin/dnc"), 200),
        }

        def loop(client: Client, requests: dict) -> None:
            while not stop.is_set():
                for kind, (send, expected) in requests.items():
                    started = time.perf_counter()
                    try:
                        status, body = send(client)
                        error = None if status == expected else f"{status}: {body[:200]!r}"
                    except OSError as exc:
                        error = repr(exc)
                    sink[0].add(kind, (time.perf_counter() - started) * 1000, error)

        workers = [
            threading.Thread(target=loop, args=(Client(app.base, token), api_requests))
            for _ in range(clients)
        ] + [
            threading.Thread(target=loop, args=(Client(app.base).log_in(), web_requests))
            for _ in range(clients)
        ]
        for worker in workers:
            worker.start()
        time.sleep(BASELINE_S)  # the same requests before the import, to compare with
        sink[0] = timings
        started = time.perf_counter()
        if via == "command":
            wall, output = import_with_command(app, second, niceness)
            loaded = re.search(r"made active in ([\d.]+) s", output)
            active_s = float(loaded.group(1)) if loaded else wall
            extra = {"command_wall_s": round(wall, 1), "note": "import-dnc: load and swap"}
        else:
            answered, active_s = import_through_the_web(app, second)
            extra = {"upload_answered_s": round(answered, 1),
                     "note": "/admin/dnc upload until the copy is active"}  # fmt: skip
        while rows_left(app.database_url, old_id):
            time.sleep(0.2)
        cleared_s = time.perf_counter() - started
        time.sleep(0.5)
        stop.set()
        for worker in workers:
            worker.join()

        common = {"database": database, "via": via, "numbers": count, "nice": niceness}
        emit(f"dnc_import_{count}_active_s", active_s, "s", at_most=TARGET_S, **common, **extra)
        emit(f"dnc_import_{count}_old_copy_deleted_s", cleared_s, "s", **common,
             note="from the import's start until the replaced copy's rows are gone")  # fmt: skip
        for kind in (*api_requests, *web_requests):
            summary = timings.summary(kind)
            samples = timings.samples.get(kind, [])
            emit(f"dnc_import_p99_ms {kind}", summary["p99"], "ms", at_most=TARGET_P99_MS,
                 p50=summary["p50"], p999=round(percentile(samples, 0.999), 1),
                 worst=round(max(samples, default=0.0), 1), requests=summary["requests"],
                 errors=summary["errors"], first_errors=timings.errors.get(kind, [])[:3],
                 baseline_p99=baseline.summary(kind)["p99"], **common)  # fmt: skip
    finally:
        app.stop()
        mock.stop()
        drop()  # type: ignore[operator]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=NUMBERS)
    parser.add_argument("--via", choices=["command", "web"], default="command")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL or MariaDB server")
    parser.add_argument("--clients", type=int, default=2, help="API clients and web clients each")
    parser.add_argument("--nice", type=int, default=None, help="import-dnc's --nice (command)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smspanel-bench-dnc-") as name:
        run(Path(name), args.numbers, args.via, args.database_url, args.clients, args.nice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
