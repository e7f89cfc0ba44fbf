"""A database server that goes away mid-delivery: clean 503s while down, nothing lost after."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import make_url

from loopback import App, MockGateway, http, wait_until
from tests.databases import query, server_dialect
from tests.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(server_dialect() == "sqlite", reason="an outage is of a database server"),
]


def test_requests_fail_cleanly_while_the_database_is_down_and_delivery_resumes(
    tmp_path, fresh_database
):
    real = make_url(fresh_database)
    proxy = TcpProxy(real.port or 0).start()
    through_proxy = real.set(host="127.0.0.1", port=proxy.port)
    mock = MockGateway(tmp_path, "--latency-ms", "10").start()
    database_url = through_proxy.render_as_string(hide_password=False)
    app = App(tmp_path, mock.url, SMS_WORKER_CONCURRENCY="4", DATABASE_URL=database_url).start()
    try:
        token = app.token()
        numbers = [str(80_000_000 + i) for i in range(1500)]
        bulk = {"recipients": numbers, "content": "outage"}
        status, sent = app.api("POST", "/api/sms/send-bulk", bulk, token)
        assert status == 202
        message_id = sent["data"]["id"]
        wait_until(lambda: mock.received()["total"] >= 300, 60, 0.05, "deliveries to start")

        proxy.cut()
        started = time.monotonic()
        for method, path, body in [
            ("GET", f"/api/sms/{message_id}", None),
            ("GET", "/api/sms", None),
            ("POST", "/api/sms", {"recipient": "91234567", "content": "during outage"}),
        ]:
            status, answer = app.api(method, path, body, token)
            assert status == 503, answer
            assert answer["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert http("GET", f"{app.base}/api/health")[0] == 503
        assert http("GET", f"{app.base}/health/ready")[0] == 503
        assert http("GET", f"{app.base}/health/live")[0] == 200
        assert time.monotonic() - started < 30, "requests hung instead of failing"
        time.sleep(2)

        proxy.start()

        def finished():
            data = app.api("GET", f"/api/sms/{message_id}", token=token)[1]["data"]
            return data if data["status"] != "pending" else None

        done = wait_until(finished, 120, 0.5, "delivery to resume and finish")
        assert (done["status"], done["success_count"]) == ("sent", 1500)
        assert set(mock.received()["by_number"]) == {f"852{n}" for n in numbers}
        # The refused send left nothing behind.
        assert query(fresh_database, "SELECT count(*) FROM messages") == [(1,)]
        assert "Traceback" not in app.output
    finally:
        app.stop()
        mock.stop()
        proxy.cut()
