"""GET /metrics: who may scrape it, and what it shows moving as messages go through."""

from __future__ import annotations

import pytest

from smspanel.models import db
from smspanel.services.delivery.attempt import attempt_delivery
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import SimulatedGateway
from smspanel.services.delivery.outcomes import record_outcomes
from tests.coroutines import run_to_completion
from tests.metrics_reading import value

TOKEN = "scrape-token-0123456789abcdef"
ELSEWHERE = {"REMOTE_ADDR": "192.0.2.10"}
METRICS = [
    "smspanel_recipients_total",
    "smspanel_queue_depth",
    "smspanel_oldest_pending_seconds",
    "smspanel_gateway_request_seconds_bucket",
    "smspanel_gateway_request_seconds_count",
    "smspanel_gateway_request_seconds_sum",
    "smspanel_http_requests_total",
    "smspanel_dead_letters_pending",
    "smspanel_webhook_deliveries",
    "smspanel_webhook_attempts_total",
    "smspanel_build_info",
]


@pytest.fixture
def with_token(app):
    app.config["METRICS_TOKEN"] = TOKEN
    return app


def test_with_a_token_set_a_scrape_without_it_gets_401_in_a_line_of_text(with_token, client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.content_type.startswith("text/plain")
        assert "Authorization: Bearer" in response.get_data(as_text=True)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Location" not in response.headers  # no login page for a scraper


def test_with_a_token_set_the_token_opens_it_from_anywhere(with_token, client):
    response = client.get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=ELSEWHERE
    )
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_with_a_token_set_loopback_alone_is_not_enough(with_token, client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 401


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_a_token_loopback_may_scrape(client, address):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code == 200


@pytest.mark.parametrize("address", ["192.0.2.10", "10.0.0.5", "2001:db8::1", ""])
def test_without_a_token_any_other_address_gets_403(client, address):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.get_data(as_text=True)


def test_without_a_token_a_request_forwarded_by_an_untrusted_proxy_gets_403(client):
    """nginx on this host forwards every client from loopback: with TRUSTED_PROXY_HOPS 0
    the app cannot tell who the client is, so it is not taken for this host."""
    response = client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.10"})
    assert response.status_code == 403


def test_behind_a_trusted_proxy_the_forwarded_client_address_decides(tmp_path, monkeypatch):
    from smspanel import create_app

    monkeypatch.setenv("SMSPANEL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-000",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'proxy.db'}",
            "SMS_IN_APP_DISPATCHER": False,
            "TRUSTED_PROXY_HOPS": 1,
        }
    )
    with app.app_context():
        db.create_all()
    client = app.test_client()
    outside = client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.10"})
    inside = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert (outside.status_code, inside.status_code) == (403, 200)
    with app.app_context():
        db.engine.dispose()


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_every_metric_is_there_from_the_first_scrape(client):
    text = scrape(client)
    for name in METRICS:
        assert f"\n{name}" in text, name


def deliver_through_simulated_gateway(app) -> None:
    """One dispatcher round: claim, send through the simulated gateway, record."""
    with app.app_context():
        claimed = claim_due_recipients(db.session, "test-worker", 1000, 60)
        gateway = SimulatedGateway()

        async def send_all():
            return [await attempt_delivery(gateway, c) for c in claimed]

        record_outcomes(db.session, "test-worker", run_to_completion(send_all()))


def test_a_send_and_its_delivery_move_the_figures(app, client, make):
    headers = make.auth()
    before = scrape(client)
    recipients = ["91234567", "61234567", "51234567"]
    response = client.post(
        "/api/sms/send-bulk", json={"recipients": recipients, "content": "Hi"}, headers=headers
    )
    assert response.status_code == 202
    queued = scrape(client)
    assert value(queued, "smspanel_queue_depth") == 3
    assert value(queued, "smspanel_recipients_total", status="pending") == (
        value(before, "smspanel_recipients_total", status="pending") + 3
    )
    sends = value(queued, "smspanel_http_requests_total", endpoint="api.send_bulk", status="202")
    assert (
        sends
        == value(before, "smspanel_http_requests_total", endpoint="api.send_bulk", status="202") + 1
    )

    deliver_through_simulated_gateway(app)
    delivered = scrape(client)
    assert value(delivered, "smspanel_queue_depth") == 0
    assert value(delivered, "smspanel_oldest_pending_seconds") == 0
    assert value(delivered, "smspanel_recipients_total", status="sent") == (
        value(before, "smspanel_recipients_total", status="sent") + 3
    )
    timed = "smspanel_gateway_request_seconds_count"
    assert value(delivered, timed, result="accepted") == value(before, timed, result="accepted") + 3


def test_dead_letters_pending_are_shown(app, client, make):
    make.message(make.user(), ["91234567", "61234567"])
    make.deliver(failing=frozenset({"91234567"}))
    assert value(scrape(client), "smspanel_dead_letters_pending") == 1


def test_requests_no_route_matches_share_one_label(client):
    def not_found() -> float:
        text = scrape(client)
        return value(text, "smspanel_http_requests_total", endpoint="unmatched", status="404")

    before = not_found()
    client.get("/no-such-page-1")
    client.get("/no-such-page-2")
    assert not_found() == before + 2
