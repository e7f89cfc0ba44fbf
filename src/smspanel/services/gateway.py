"""The 1010/HKT HTTP gateway behind a small interface, with a simulated one for development.

Duplicates: a request that never reached the gateway (connection refused, connect timeout)
is always safe to repeat. A request that was sent but got no answer (read timeout, dropped
connection) may already have been delivered. We retry both, as the spec asks, because a
missing notice is worse than a repeated one, but we record which case happened: the
recipient keeps `error_kind` and `maybe_duplicate` so the record says when a second copy
may have gone out.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from smspanel.services.phone import gateway_number

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayReply:
    status_code: int
    body: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.status_code < 300


class GatewayTransportError(Exception):
    """No HTTP answer came back; `kind` says whether the request may have been delivered."""

    kind = "transport"
    maybe_delivered = False


class GatewayUnreachable(GatewayTransportError):
    """The request never reached the gateway: repeating it cannot duplicate."""

    kind = "unreachable"


class GatewayNoResponse(GatewayTransportError):
    """The request was sent but no answer came: the SMS may have gone out."""

    kind = "no_response"
    maybe_delivered = True


class GatewayClient(Protocol):
    def send(self, phone: str, content: str) -> GatewayReply:
        """Submit one SMS; raise GatewayTransportError when no HTTP answer came back."""
        ...

    def close(self) -> None: ...


# The retry rule (spec: 3 attempts, exponential backoff 2-10 s, only transport errors).
# The queue, not a sleeping thread, does the waiting: see `retry_delay`.
RETRY_POLICY = Retrying(
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=2, min=2, max=10),  # 2 s, then 4 s
    retry=retry_if_exception_type(GatewayTransportError),
    reraise=True,
)


def retry_delay(attempt_number: int, error: BaseException) -> float | None:
    """Seconds to wait before the next attempt, or None once the policy gives up."""
    state = RetryCallState(RETRY_POLICY, fn=None, args=(), kwargs={})
    state.attempt_number = attempt_number
    state.set_exception((type(error), error, error.__traceback__))
    if not RETRY_POLICY.retry(state) or RETRY_POLICY.stop(state):
        return None
    assert RETRY_POLICY.wait is not None
    return float(RETRY_POLICY.wait(state))


class HttpGateway:
    """POSTs the gateway's form; each sending thread keeps its own keep-alive connection.

    One httpx client shared by many threads serialises them on its pool lock (profiled: 60%
    of the dispatcher's time); a client per thread has no lock to wait on. httpx is imported
    here, not at the top: a process on the simulated gateway never pays its ~9 MB.
    """

    def __init__(
        self,
        base_url: str,
        application_id: str,
        sender_number: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
    ) -> None:
        import httpx

        self._httpx = httpx
        self.base_url = base_url
        self.application_id = application_id
        self.sender_number = sender_number
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout)
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            httpx = self._httpx
            # No Nagle delay: headers and body are separate writes on a kept-alive connection.
            transport = httpx.HTTPTransport(
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            client = httpx.Client(timeout=self._timeout, transport=transport)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def send(self, phone: str, content: str) -> GatewayReply:
        form = {
            "application": self.application_id,
            "mrt": gateway_number(phone),
            "sender": self.sender_number,
            "msg_utf8": content,
        }
        httpx = self._httpx
        try:
            response = self._client().post(self.base_url, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise GatewayUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise GatewayNoResponse(f"{type(exc).__name__}: {exc}") from exc
        return GatewayReply(response.status_code, response.text[:255])

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


class SimulatedGateway:
    """Development default: logs each SMS and accepts it, so nobody texts real people."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, content: str) -> GatewayReply:
        log.info("simulated SMS to %s: %r", gateway_number(phone), content)
        with self._lock:
            self.sent.append((phone, content))
            if len(self.sent) > 1000:
                del self.sent[:500]
        return GatewayReply(200, "OK (simulated)")

    def close(self) -> None:
        pass


def gateway_from_config(config: dict) -> GatewayClient:
    base_url = config.get("SMS_BASE_URL")
    if not base_url:
        return SimulatedGateway()
    return HttpGateway(
        base_url,
        config.get("SMS_APPLICATION_ID", ""),
        config.get("SMS_SENDER_NUMBER", ""),
        connect_timeout=config.get("SMS_CONNECT_TIMEOUT", 5.0),
        read_timeout=config.get("SMS_READ_TIMEOUT", 15.0),
    )
