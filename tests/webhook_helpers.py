"""For the tests of webhooks: a name server of the test's own, and delivery rows written
straight into their table (the sender that makes them is tested on its own). A plugin of
the suite (tests/conftest.py), so its fixtures serve every webhook test module:
`pytestmark = pytest.mark.usefixtures("test_names_resolve")` and `add_delivery`."""

from __future__ import annotations

import ipaddress
import json
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from smspanel.models import WebhookDelivery, db, utcnow

PUBLIC_ADDRESS = "93.184.216.34"  # a public address (example.com's, once)
RECEIVER = "https://hooks.example.com/smspanel"  # resolves to PUBLIC_ADDRESS in `dns`


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve_as(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """socket.getaddrinfo answers these names with these addresses and knows no others, so
    no test asks a real name server (addresses and localhost, the database's among them,
    still go to the real one)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: object, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            if host == "localhost" or is_address(host):
                return real(host, port, *args, **kwargs)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# The test name server's: hooks.example.com is public, internal.example.com private.
TEST_NAMES = {"hooks.example.com": [PUBLIC_ADDRESS], "internal.example.com": ["10.1.2.3"]}


class DeliveryFactory:
    """Writes WebhookDelivery rows as the dispatcher would leave them."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(
        self,
        user_id: int,
        *,
        status: str = "failed",
        event_type: str = "message.final",
        created_at: datetime | None = None,
        **fields: Any,
    ) -> int:
        created = created_at or utcnow()
        event_id = fields.pop("event_id", str(uuid.uuid4()))
        payload = fields.pop(
            "payload",
            json.dumps({"id": event_id, "type": event_type, "data": {"id": 1}}),
        )
        row = {
            "attempts": 3,
            "last_status_code": 500,
            "next_attempt_at": created + timedelta(minutes=5),
            "retry_until": created + timedelta(hours=24),
            "updated_at": created,
            **fields,
        }
        with self.app.app_context():
            delivery = WebhookDelivery(
                event_id=event_id,
                user_id=user_id,
                event_type=event_type,
                payload=payload,
                status=status,
                created_at=created,
                **row,
            )
            db.session.add(delivery)
            db.session.commit()
            return delivery.id

    def row(self, delivery_id: int) -> WebhookDelivery:
        """The stored row, detached, to read its columns."""
        with self.app.app_context():
            delivery = db.session.get(WebhookDelivery, delivery_id)
            assert delivery is not None
            db.session.expunge(delivery)
            return delivery


@pytest.fixture
def test_names_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """TEST_NAMES resolve to their addresses, and no name reaches a real name server."""
    resolve_as(monkeypatch, TEST_NAMES)


@pytest.fixture
def add_delivery(app: Flask) -> DeliveryFactory:
    return DeliveryFactory(app)
