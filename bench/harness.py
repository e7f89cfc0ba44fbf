"""What every scenario shares: real processes, figures printed as JSON, loopback clients."""

from __future__ import annotations

import http.client
import json
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sqlalchemy import Engine, text

from loopback import ADMIN_PASSWORD

CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def emit(
    name: str,
    value: float,
    unit: str,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    **extra: object,
) -> dict[str, object]:
    """Print one figure as a JSON line, with its target and whether it is met."""
    figure: dict[str, object] = {"figure": name, "value": round(value, 2), "unit": unit}
    if at_most is not None:
        figure |= {"target": f"< {at_most:g} {unit}", "meets": value < at_most}
    if at_least is not None:
        figure |= {"target": f">= {at_least:g} {unit}", "meets": value >= at_least}
    figure |= extra
    print(json.dumps(figure), flush=True)
    return figure


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"recipient": "9123 4567", "content": "bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
"""


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    tmp: Path,
    url: str,
    token: str,
    seconds: int,
    connections: int,
    script_text: str = WRK_SCRIPT,
) -> dict[str, float]:
    """wrk's figures for POST /api/sms: requests, accepted, errors, requests/s, p50, p99."""
    script = tmp / "send.lua"
    script.write_text(script_text.replace("TOKEN", token))
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
               str(script), url]  # fmt: skip
    text = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    latency = dict(
        (level, to_ms(value, unit))
        for level, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", text, re.M)
    )
    refused = int(non_2xx.group(1)) if non_2xx else 0
    socket_errors = sum(int(n) for n in sockets.groups()) if sockets else 0
    return {
        "requests": requests,
        "accepted": requests - refused,
        "errors": refused + socket_errors,
        "rps": (requests - refused) / seconds,
        "p50": latency.get("50", 0.0),
        "p99": latency.get("99", 0.0),
    }


# Mobile ranges (6100 0000 on, 9300 0000 on, 9400 0000 on), so the numbering plan skips none.
MOBILE_BLOCK = 61_000_000


def numbers(count: int, first: int = MOBILE_BLOCK) -> list[str]:
    return [str(first + n) for n in range(count)]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# Process figures straight from /proc: no dependency, and the whole tree (gunicorn's
# workers are children of the master).


def process_tree(pid: int) -> list[int]:
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        # Each thread lists the children it started (the dispatcher's is a supervisor thread).
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return pids


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (what `ps` and `top` show)."""
    return sum(_rss_kb(each) for each in process_tree(pid)) / 1024


def rss_by_role_mb(pid: int) -> dict[str, float]:
    """The same, split into the serving processes and the host's dispatcher process."""
    roles = {"serving": 0.0, "dispatcher": 0.0}
    for each in process_tree(pid):
        try:
            dispatcher = b"smspanel\0worker" in Path(f"/proc/{each}/cmdline").read_bytes()
        except OSError:
            continue
        roles["dispatcher" if dispatcher else "serving"] += _rss_kb(each) / 1024
    return roles


def _rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by a process tree (live processes only)."""
    ticks = 0
    for each in process_tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


# Loopback clients: one keep-alive connection per thread, latency measured at the client.


class Client:
    """A keep-alive HTTP/1.1 connection that carries a bearer token or a session cookie."""

    def __init__(self, base: str, token: str | None = None) -> None:
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(
        self, method: str, path: str, body: object = None, form: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send JSON (`body`) or a form; keep whatever session cookie the app sets."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, data, headers)
        response = self.connection.getresponse()
        payload = response.read()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            if cookie.startswith("session="):
                self.headers["Cookie"] = cookie.split(";", 1)[0]
        return response.status, payload

    def log_in(self, username: str = "SMSadmin", password: str = ADMIN_PASSWORD) -> Client:
        """A web session, the way a browser gets one: the form, its CSRF token, the post."""
        _, page = self.request("GET", "/login")
        csrf = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert csrf, "no CSRF token on /login"
        form = {"csrf_token": csrf.group(1).decode(), "username": username, "password": password}
        status, _ = self.request("POST", "/login", form=form)
        assert status == 302, f"login answered {status}"
        return self


@dataclass
class Timings:
    """Latencies (ms) and failures per kind of request, collected by several threads."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, ms: float, error: str | None) -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(ms)
            if error:
                self.errors.setdefault(kind, []).append(error)

    def summary(self, kind: str) -> dict[str, float]:
        values = self.samples.get(kind, [])
        return {
            "requests": len(values),
            "p50": round(statistics.median(values), 1) if values else 0.0,
            "p99": round(percentile(values, 0.99), 1),
            "errors": len(self.errors.get(kind, [])),
        }


Request = Callable[[Client], tuple[int, bytes]]


def drive(
    clients: Iterable[Client],
    requests: dict[str, tuple[Request, int]],
    seconds: float,
    timings: Timings,
) -> None:
    """Each client loops over the request kinds until time is up; `expected` status per kind."""

    def loop(client: Client) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for kind, (send, expected) in requests.items():
                started = time.perf_counter()
                try:
                    status, body = send(client)
                    error = None if status == expected else f"{status}: {body[:200]!r}"
                except (OSError, http.client.HTTPException) as exc:
                    error = repr(exc)
                timings.add(kind, (time.perf_counter() - started) * 1000, error)

    threads = [threading.Thread(target=loop, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def cached_sqlite_url(path: Path, reseed: bool) -> str:
    """A seeded SQLite file kept between runs; with `reseed`, deleted (WAL files too) first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if reseed:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def holds_message(engine: Engine, message_id: int) -> bool:
    """Whether a seeding got as far as `message_id` (False when there is no schema yet)."""
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM messages WHERE id = :id"), {"id": message_id}
            ).scalar()
    except Exception:
        return False
    return bool(found)
