"""A webhook receiver for end-to-end tests and benchmarks (standard library only), written as
a user's receiver would be: it checks each event's signature with its own few lines.

POST <any path>   an event: kept with its arrival time and whether its signature checks
                  out; answers 200 (after --delay-ms), or 500 to the first --fail-first.
GET  /received    JSON: total (POSTs taken in, answered or not), answered, and events:
                  each event's id, type, message_id, recipient ids, signed, received_at.
GET  /health      200 "ok".

    python tests/e2e/webhook_receiver.py --port P --secret S [--delay-ms N] [--fail-first N]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300


def signed_by(secret: str, header: str, body: bytes) -> bool:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, recent and matching."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields.get("v1", ""))


class Events:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.answered = 0
        self.events: list[dict[str, Any]] = []


def handler(events: Events, secret: str, delay: float, fail_first: int) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            arrived = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with events.lock:
                events.total += 1
                refuse = events.total <= fail_first
            if delay:
                time.sleep(delay)
            if refuse:
                self._answer(500, b"not yet")
                return
            event = json.loads(body)
            data = event.get("data", {})
            recipients = data.get("recipients")
            with events.lock:
                events.answered += 1
                events.events.append(
                    {
                        "id": event["id"],
                        "type": event["type"],
                        "message_id": data.get("message_id", data.get("id")),
                        "recipient_ids": [r["id"] for r in recipients or []],
                        "statuses": [r["status"] for r in recipients or []],
                        "signed": signed_by(
                            secret, self.headers.get("X-Smspanel-Signature", ""), body
                        ),
                        "content_type": self.headers.get("Content-Type"),
                        "arrived_at": arrived,
                        "received_at": time.time(),
                    }
                )
            self._answer(200, b"ok")

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, b"ok")
                return
            with events.lock:
                answer = {
                    "total": events.total,
                    "answered": events.answered,
                    "events": list(events.events),
                }
            self._answer(200, json.dumps(answer).encode(), "application/json")

        def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    events = Events()
    server = ThreadingHTTPServer(
        (args.host, args.port),
        handler(events, args.secret, args.delay_ms / 1000, args.fail_first),
    )
    server.daemon_threads = True
    print(f"webhook receiver on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
