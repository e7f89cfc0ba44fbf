"""Webhooks stored straight into their table: the settings pages and API have tests of their
own; these test what the outbox, packing and the sender do with a subscription."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select

from smspanel.models import User, Webhook, WebhookOutboxEntry, db

BOTH = "message.final,recipient.final"


class Subscriptions:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def subscribe(
        self, user: User, url: str = "https://hooks.example.com/sms", events: str = BOTH
    ) -> str:
        """`user`'s webhook, set or replaced; its secret."""
        secret = f"whsec_test_{user.id}"
        with self.app.app_context():
            db.session.execute(delete(Webhook).where(Webhook.user_id == user.id))
            db.session.add(Webhook(user_id=user.id, url=url, events=events, secret=secret))
            db.session.commit()
        return secret

    def remove(self, user: User) -> None:
        with self.app.app_context():
            db.session.execute(delete(Webhook).where(Webhook.user_id == user.id))
            db.session.commit()


@pytest.fixture
def hooks(app: Flask) -> Subscriptions:
    return Subscriptions(app)


def outbox() -> list[tuple[int, str, int, list[int] | None]]:
    """(user, event type, message, recipient ids) of every entry, in the order written."""
    rows = db.session.execute(
        select(
            WebhookOutboxEntry.user_id,
            WebhookOutboxEntry.event_type,
            WebhookOutboxEntry.message_id,
            WebhookOutboxEntry.recipient_ids,
        ).order_by(WebhookOutboxEntry.id)
    ).all()
    return [(u, t, m, None if ids is None else json.loads(ids)) for u, t, m, ids in rows]


def reported_recipients(message_id: int) -> list[int]:
    """Every recipient id the outbox reports final for the message, in the order written."""
    return [
        rid
        for _u, kind, mid, ids in outbox()
        if kind == "recipient.final" and mid == message_id
        for rid in ids or []
    ]


def user_ids() -> dict[str, int]:
    return dict(db.session.execute(select(User.username, User.id)).all())


class Receiver:
    """A webhook receiver on loopback, in a thread: answers by path and keeps every request.

    /ok 200, /fail 500, /redirect 302 to /ok, /hang answers after `hang_seconds`.
    """

    def __init__(self, hang_seconds: float = 5.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.hang_seconds = hang_seconds
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                if self.path == "/hang":
                    time.sleep(receiver.hang_seconds)
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/ok")
                elif self.path in ("/ok", "/hang"):
                    self.send_response(200)
                else:
                    self.send_response(500)
                answer = b"broken" if self.path == "/fail" else b""
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
