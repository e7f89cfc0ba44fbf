"""Test doubles for the gateway interface (services.delivery.gateway.GatewayClient)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from smspanel.services.delivery.gateway import GatewayReply


class FakeGateway:
    """Answers by rule; counts every call per number."""

    def __init__(self, answer: Callable[[str, str, int], GatewayReply] | None = None) -> None:
        self.answer = answer or (lambda phone, content, n: GatewayReply(200, "OK"))
        self.calls: Counter[str] = Counter()
        self.contents: list[str] = []
        self._lock = threading.Lock()

    async def send(self, phone: str, content: str) -> GatewayReply:
        with self._lock:
            self.calls[phone] += 1
            self.contents.append(content)
            n = self.calls[phone]
        return self.answer(phone, content, n)

    async def close(self) -> None:
        pass
