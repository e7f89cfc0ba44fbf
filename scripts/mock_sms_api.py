"""Mock 1010/HKT gateway for development, tests and benchmarks (standard library only).

POST /gateway/gateway.jsp  form fields application, mrt, sender, msg_utf8 -> 200 "OK";
                           content containing "error" -> 401, as the real gateway's users know it.
GET  /received             JSON: total, rejected, by_number counts
                           (?messages=1 adds the last 100,000 messages with their times).
POST /reset                forget everything received.
GET  /health               200 "ok".

    python scripts/mock_sms_api.py [--host H] [--port P] [--latency-ms N] [--failure-rate F]

MOCK_SMS_HOST / MOCK_SMS_PORT set the defaults (127.0.0.1:5555).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

GATEWAY_PATH = "/gateway/gateway.jsp"
REQUIRED_FIELDS = ("application", "mrt", "sender", "msg_utf8")


class Received:
    """What the mock has accepted so far; counts stay exact, the message log is bounded."""

    def __init__(self, keep: int = 100_000) -> None:
        self.lock = threading.Lock()
        self.by_number: Counter[str] = Counter()
        self.total = 0
        self.rejected = 0
        self.messages: deque[dict[str, str]] = deque(maxlen=keep)

    def record(self, form: dict[str, str], accepted: bool) -> None:
        with self.lock:
            if accepted:
                self.total += 1
                self.by_number[form["mrt"]] += 1
            else:
                self.rejected += 1
            self.messages.append(
                {**form, "accepted": str(accepted).lower(), "received_at": f"{time.time():.6f}"}
            )

    def snapshot(self, with_messages: bool) -> dict[str, object]:
        with self.lock:
            counts: dict[str, object] = {
                "total": self.total,
                "rejected": self.rejected,
                "by_number": dict(self.by_number),
            }
            if with_messages:
                counts["messages"] = list(self.messages)
            return counts

    def reset(self) -> None:
        with self.lock:
            self.by_number.clear()
            self.total = self.rejected = 0
            self.messages.clear()


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real gateway behind a load balancer
    server: MockGatewayServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, "ok")
        elif self.path.split("?")[0] == "/received":
            with_messages = "messages=1" in self.path
            body = json.dumps(self.server.received.snapshot(with_messages))
            self._reply(200, body, "application/json")
        else:
            self._reply(404, "not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/reset":
            self.server.received.reset()
            self._reply(200, "reset")
            return
        if self.path != GATEWAY_PATH:
            self._reply(404, "not found")
            return
        try:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            self._reply(400, "malformed form body")
            return
        form = {key: values[0] for key, values in parsed.items()}
        missing = [name for name in REQUIRED_FIELDS if name not in form]
        if missing:
            self._reply(400, f"missing fields: {', '.join(missing)}")
            return
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        if "error" in form["msg_utf8"].lower():
            self.server.received.record(form, accepted=False)
            self._reply(401, "Unauthorized")
            return
        if self.server.failure_rate and random.random() < self.server.failure_rate:
            self.server.received.record(form, accepted=False)
            self._reply(500, "simulated failure")
            return
        self.server.received.record(form, accepted=True)
        self._reply(200, "OK")


class MockGatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        latency: float = 0.0,
        failure_rate: float = 0.0,
        verbose: bool = False,
    ) -> None:
        super().__init__(address, GatewayHandler)
        self.latency = latency
        self.failure_rate = failure_rate
        self.verbose = verbose
        self.received = Received()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("MOCK_SMS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOCK_SMS_PORT", "5555")))
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before answering each SMS"
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=0.0,
        help="fraction (0-1) of SMS answered with HTTP 500",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if not 0.0 <= args.failure_rate <= 1.0:
        parser.error("--failure-rate must be between 0 and 1")
    server = MockGatewayServer(
        (args.host, args.port), args.latency_ms / 1000.0, args.failure_rate, args.verbose
    )
    print(
        f"mock SMS gateway on http://{args.host}:{server.server_address[1]}{GATEWAY_PATH}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
