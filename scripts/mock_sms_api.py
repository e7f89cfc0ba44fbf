"""Mock 1010/HKT gateway for development, tests and benchmarks (standard library only).

POST /gateway/gateway.jsp  form fields application, mrt, sender, msg_utf8 -> 200 "OK";
                           content containing "error" -> 401, as the real gateway's users know it.
GET  /received             JSON: arrived (taken in, answered or not), total, rejected, by_number
                           counts (?messages=1 adds the last 100,000 messages with their times:
                           arrived_at when the request came in, received_at when answered).
POST /reset                forget everything received.
GET  /health               200 "ok".

    python scripts/mock_sms_api.py [--host H] [--port P] [--latency-ms N] [--failure-rate F]

MOCK_SMS_HOST / MOCK_SMS_PORT set the defaults (127.0.0.1:5555).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import sys
import threading
import time
from collections import Counter, deque
from http import HTTPStatus
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
        self.arrived = 0  # requests taken in, answered or not yet
        self.messages: deque[dict[str, str]] = deque(maxlen=keep)

    def record(self, form: dict[str, str], accepted: bool, arrived_at: float) -> None:
        with self.lock:
            if accepted:
                self.total += 1
                self.by_number[form["mrt"]] += 1
            else:
                self.rejected += 1
            self.messages.append(
                {
                    **form,
                    "accepted": str(accepted).lower(),
                    "arrived_at": f"{arrived_at:.6f}",
                    "received_at": f"{time.time():.6f}",
                }
            )

    def arrive(self) -> None:
        with self.lock:
            self.arrived += 1

    def snapshot(self, with_messages: bool) -> dict[str, object]:
        with self.lock:
            counts: dict[str, object] = {
                "arrived": self.arrived,
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
            self.total = self.rejected = self.arrived = 0
            self.messages.clear()


class GatewayProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, one connection each; requests must carry Content-Length.

    One asyncio loop instead of a thread per connection: the mock has to outrun the dispatcher
    it measures on the same two cores (threads cost it ~0.16 ms of CPU per request).
    """

    def __init__(self, gateway: MockGateway) -> None:
        self.gateway = gateway
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # answering a request; later ones wait in the buffer (pipelining)
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # Headers and body come as separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every keep-alive request.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.next_request()

    def next_request(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.reply(431, "headers too large", close=True)
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            try:
                method, target, _version = head[0].split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in head[1:])
                }
                length = int(headers.get("content-length") or 0)
            except ValueError:
                self.reply(400, "malformed request", close=True)
                return
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.reply(411, "send Content-Length", close=True)
                return
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.close_after = headers.get("connection", "").lower() == "close"
            self.handle(method, target, body)

    def handle(self, method: str, target: str, body: bytes) -> None:
        gateway = self.gateway
        path = target.split("?")[0]
        if method == "GET" and path == "/health":
            self.reply(200, "ok")
        elif method == "GET" and path == "/received":
            with_messages = "messages=1" in target
            self.reply(
                200, json.dumps(gateway.received.snapshot(with_messages)), "application/json"
            )
        elif method == "POST" and path == "/reset":
            gateway.received.reset()
            self.reply(200, "reset")
        elif method == "POST" and path == GATEWAY_PATH:
            self.sms(body)
        else:
            self.reply(404, "not found")

    def sms(self, body: bytes) -> None:
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            self.reply(400, "malformed form body")
            return
        form = {key: values[0] for key, values in parsed.items()}
        missing = [name for name in REQUIRED_FIELDS if name not in form]
        if missing:
            self.reply(400, f"missing fields: {', '.join(missing)}")
            return
        gateway = self.gateway
        gateway.received.arrive()
        arrived_at = time.time()
        if "error" in form["msg_utf8"].lower():
            status, text = 401, "Unauthorized"
        elif gateway.failure_rate and random.random() < gateway.failure_rate:
            status, text = 500, "simulated failure"
        else:
            status, text = 200, "OK"
        if gateway.latency > 0:
            self.busy = True
            loop = asyncio.get_running_loop()
            loop.call_later(gateway.latency, self.answer_sms, form, status, text, arrived_at)
        else:
            self.answer_sms(form, status, text, arrived_at)

    def answer_sms(self, form: dict[str, str], status: int, text: str, arrived_at: float) -> None:
        self.gateway.received.record(form, accepted=status == 200, arrived_at=arrived_at)
        self.busy = False
        self.reply(status, text)
        self.next_request()

    def reply(
        self, status: int, body: str, content_type: str = "text/plain", close: bool = False
    ) -> None:
        if self.transport is None:
            return
        data = body.encode("utf-8")
        close = close or self.close_after
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: {content_type}; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\n"
            f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + data)
        if self.gateway.verbose:
            print(f"{status} {len(data)}", file=sys.stderr, flush=True)
        if close:
            self.transport.close()
            self.transport = None


class MockGateway:
    def __init__(self, latency: float = 0.0, failure_rate: float = 0.0, verbose: bool = False):
        self.latency = latency
        self.failure_rate = failure_rate
        self.verbose = verbose
        self.received = Received()

    async def serve(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: GatewayProtocol(self), host, port, reuse_address=True, backlog=1024
        )
        print(f"mock SMS gateway on http://{host}:{port}{GATEWAY_PATH}", flush=True)
        async with server:
            await server.serve_forever()


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
    gateway = MockGateway(args.latency_ms / 1000.0, args.failure_rate, args.verbose)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(gateway.serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
