"""Real processes on loopback for end-to-end tests, browser tests and benchmarks: the app, the
mock gateway and a webhook receiver."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
FLASK = [sys.executable, "-m", "flask", "--app", "smspanel"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """One JSON request; returns (status, parsed body or text)."""
    status, parsed, _headers = http_with_headers(method, url, body, token, timeout=timeout)
    return status, parsed


def http_with_headers(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any, Any]:
    """One JSON request with extra headers; returns (status, parsed body or text, headers)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, answered = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, answered = error.code, error.read(), error.headers
    try:
        return status, json.loads(raw), answered
    except ValueError:
        return status, raw.decode(errors="replace"), answered


def wait_until(condition, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class Process:
    """A child process whose output goes to a log file, always cleaned up."""

    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
    ) -> None:
        self.args, self.env, self.log_path, self.cwd = args, env, log_path, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")  # noqa: SIM115  (closed with the process)
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def signal(self, signum: int) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.proc.wait(5)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(5)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class MockGateway(Process):
    def __init__(self, tmp: Path, *options: str) -> None:
        self.port = free_port()
        super().__init__(
            [
                sys.executable,
                str(ROOT / "scripts" / "mock_sms_api.py"),
                "--port",
                str(self.port),
                *options,
            ],
            dict(os.environ),
            tmp / f"mock-{self.port}.log",
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/gateway/gateway.jsp"

    def start(self) -> MockGateway:
        super().start()
        wait_until(lambda: http("GET", f"{self.base}/health")[0] == 200, 10, what="mock gateway")
        return self

    def received(self, messages: bool = False) -> dict[str, Any]:
        """What the mock accepted: counts, and with `messages` every request's fields."""
        return http("GET", f"{self.base}/received" + ("?messages=1" if messages else ""))[1]


class WebhookReceiver(Process):
    """tests/e2e/webhook_receiver.py: keeps every event, checks its signature with `secret`."""

    def __init__(self, tmp: Path, secret: str, *options: str) -> None:
        self.port = free_port()
        self.secret = secret
        super().__init__(
            [
                sys.executable,
                str(ROOT / "tests" / "e2e" / "webhook_receiver.py"),
                "--port",
                str(self.port),
                "--secret",
                secret,
                *options,
            ],
            dict(os.environ),
            tmp / f"webhook-receiver-{self.port}.log",
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/hooks/sms"

    def start(self) -> WebhookReceiver:
        super().start()
        wait_until(lambda: http("GET", f"{self.base}/health")[0] == 200, 10, what="receiver")
        return self

    def received(self) -> dict[str, Any]:
        """total POSTs, answered, and every event answered 200 (see the script)."""
        return http("GET", f"{self.base}/received")[1]


ADMIN_PASSWORD = "e2e admin password"


class App(Process):
    """`python run.py` (or gunicorn) on a free port with its own instance folder."""

    def __init__(
        self,
        tmp: Path,
        gateway_url: str | None,
        command: list[str] | None = None,
        *,
        cwd: Path | None = None,
        test_settings: bool = True,
        **settings: str,
    ) -> None:
        """`test_settings` adds a short poll interval and gateway credentials for the tests;
        without it the app runs on its defaults, as a user's would (the benchmarks)."""
        self.port = free_port()
        self.instance = tmp / "instance"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SMS_", "FLASK_"))}
        env.pop("DATABASE_URL", None)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each app its own, in its instance folder
        env.update(
            {
                "SMSPANEL_INSTANCE_PATH": str(self.instance),
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "ADMIN_PASSWORD": ADMIN_PASSWORD,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if test_settings:
            env.update(
                {
                    "SMS_POLL_INTERVAL": "0.1",
                    "SMS_APPLICATION_ID": "e2e-app",
                    "SMS_SENDER_NUMBER": "18001234",
                }
            )
        if gateway_url:
            env["SMS_BASE_URL"] = gateway_url
        env.update(settings)
        self.database_url = env.get("DATABASE_URL") or f"sqlite:///{self.instance / 'sms.db'}"
        args = command or [sys.executable, str(ROOT / "run.py")]
        args = [a.replace("{port}", str(self.port)) for a in args]
        super().__init__(args, env, tmp / f"app-{self.port}.log", cwd=cwd or tmp)
        self.base = f"http://127.0.0.1:{self.port}"

    @classmethod
    def gunicorn(cls, tmp: Path, gateway_url: str | None, workers: int = 2, **options: Any) -> App:
        """The README's `gunicorn -w N -b HOST:PORT run:app`, run from the checkout."""
        command = [sys.executable, "-m", "gunicorn", "-w", str(workers),
                   "-b", "127.0.0.1:{port}", "run:app"]  # fmt: skip
        return cls(tmp, gateway_url, command, cwd=ROOT, **options)

    def start(self, timeout: float = 30.0) -> App:
        super().start()
        wait_until(lambda: self._ready(), timeout, what=f"app on port {self.port}")
        return self

    def _ready(self) -> bool:
        if self.proc and self.proc.poll() is not None:
            raise RuntimeError(f"app exited early:\n{self.output}")
        return http("GET", f"{self.base}/health/ready", timeout=2)[0] == 200

    def worker(self, name: str = "worker") -> Process:
        """A dedicated `flask --app smspanel worker` on the same settings and database."""
        return Process(
            [*FLASK, "worker"],
            dict(self.env),
            self.log_path.with_name(f"{name}-{self.port}.log"),
            cwd=self.cwd,
        )

    def flask(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """One `flask --app smspanel` command run to its end, on the app's settings and
        database: the operators' way in."""
        return subprocess.run(
            [*FLASK, *args],
            env=dict(self.env),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def token(self, username: str = "SMSadmin", password: str = ADMIN_PASSWORD) -> str:
        status, body = http(
            "POST", f"{self.base}/api/auth/login", {"username": username, "password": password}
        )
        assert status == 200, body
        return body["data"]["access_token"]

    def api(self, method: str, path: str, body: Any = None, token: str | None = None):
        return http(method, f"{self.base}{path}", body, token)

    def set_webhook(
        self,
        url: str,
        secret: str,
        username: str = "SMSadmin",
        events: str = "message.final,recipient.final",
    ) -> None:
        """The user's webhook, written straight into the app's database (or removed, with
        an empty `url`)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                user_id = connection.execute(
                    text("SELECT id FROM users WHERE username = :u"), {"u": username}
                ).scalar_one()
                connection.execute(text("DELETE FROM webhooks WHERE user_id = :u"), {"u": user_id})
                if url:
                    connection.execute(
                        text(
                            "INSERT INTO webhooks (user_id, url, events, secret, created_at, "
                            "updated_at, secret_rotated_at) VALUES (:u, :url, :events, :secret, "
                            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        ),
                        {"u": user_id, "url": url, "events": events, "secret": secret},
                    )
        finally:
            engine.dispose()
