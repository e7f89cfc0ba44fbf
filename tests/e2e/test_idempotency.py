"""End to end: twins with one `Idempotency-Key` racing on different gunicorn workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from loopback import App, MockGateway, http_with_headers
from tests.databases import query

pytestmark = pytest.mark.e2e


def test_twins_on_different_workers_store_one_message_and_answer_alike(tmp_path, fresh_database):
    gateway = MockGateway(tmp_path).start()
    app = App.gunicorn(tmp_path, gateway.url, 4, DATABASE_URL=fresh_database).start(60)
    try:
        token = app.token()
        twins = 8
        start_together = Barrier(twins)
        body = {"recipients": [f"9{n:07d}" for n in range(200)], "content": "Exam moved"}

        def post(_n: int):
            start_together.wait(10)
            return http_with_headers(
                "POST",
                f"{app.base}/api/sms/send-bulk",
                body,
                token,
                headers={"Idempotency-Key": "exam-notice-2026-12"},
                timeout=30,
            )

        with ThreadPoolExecutor(twins) as pool:
            answers = list(pool.map(post, range(twins)))
        accepted = [(status, body) for status, body, _ in answers if status == 202]
        busy = [headers for status, _, headers in answers if status == 409]
        assert len(accepted) + len(busy) == twins, [a[:2] for a in answers]
        assert len({b["data"]["id"] for _, b in accepted}) == 1
        assert all(int(h["Retry-After"]) >= 1 for h in busy)
        replayed = [h.get("Idempotent-Replayed") for s, _, h in answers if s == 202]
        assert replayed.count(None) <= 1  # the one that stored it answers first-hand
        assert query(fresh_database, "SELECT COUNT(*) FROM messages") == [(1,)]
        assert query(fresh_database, "SELECT COUNT(*) FROM recipients") == [(200,)]
    finally:
        app.stop()
        gateway.stop()
