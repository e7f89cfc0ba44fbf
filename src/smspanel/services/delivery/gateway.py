"""The 1010/HKT HTTP gateway behind a small interface, with a simulated one for development.

Duplicates: a request that never reached the gateway (connection refused, connect timeout)
is always safe to repeat. A request that was sent but got no answer (read timeout, dropped
connection) may already have been delivered. The retry policy retries both, as the spec
asks, because a missing notice is worse than a repeated one; the errors here say which case
happened, so the recipient's record keeps `error_kind` and `maybe_duplicate`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies_environment, proxy_bypass

from smspanel.services.phone import gateway_number

if TYPE_CHECKING:
    import aiohttp

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
    """Called from the dispatcher's one asyncio loop; `send` must not block that loop."""

    async def send(self, phone: str, content: str) -> GatewayReply:
        """Submit one SMS; raise GatewayTransportError when no HTTP answer came back."""
        ...

    async def close(self) -> None: ...


class HttpGateway:
    """POSTs the gateway's form from the dispatcher's asyncio loop, over keep-alive connections.

    aiohttp on one loop rather than a thread per request: its CPU per request is a fraction
    of httpx's (docs/PERFORMANCE.md), which lets one dispatcher process keep up with a fast
    gateway. The dispatcher bounds the requests in flight, so the connection pool does not.
    aiohttp is imported here, not at the top: on the simulated gateway (the default) a
    process never loads it.
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
        import aiohttp

        self._aiohttp = aiohttp
        self.base_url = base_url
        self.application_id = application_id
        self.sender_number = sender_number
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None
        self._proxy = proxy_from_environment(base_url)

    def _client(self) -> aiohttp.ClientSession:
        """Made on first use, inside the loop that will use it (aiohttp binds it there)."""
        if self._session is None:
            aiohttp = self._aiohttp
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=0),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        return self._session

    def _form(self, phone: str, content: str) -> bytes:
        return urlencode(
            {
                "application": self.application_id,
                "mrt": gateway_number(phone),
                "sender": self.sender_number,
                "msg_utf8": content,
            }
        ).encode("ascii")

    async def send(self, phone: str, content: str) -> GatewayReply:
        aiohttp = self._aiohttp
        try:
            async with self._client().post(
                self.base_url,
                data=self._form(phone, content),
                allow_redirects=False,
                proxy=self._proxy,
            ) as response:
                body = await response.read()
                status, charset = response.status, response.charset
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise GatewayUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise GatewayNoResponse(f"{type(exc).__name__}: {exc}") from exc
        return GatewayReply(status, _decode(body, charset)[:255])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def proxy_from_environment(url: str) -> str | None:
    """HTTP(S)_PROXY / NO_PROXY for the gateway, read once: aiohttp's `trust_env` rereads the
    environment on every request, which profiling showed to be costly."""
    parts = urlsplit(url)
    if parts.hostname and proxy_bypass(parts.hostname):
        return None
    return getproxies_environment().get(parts.scheme)


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


class SimulatedGateway:
    """Development default: logs each SMS and accepts it, so nobody texts real people."""

    def __init__(self) -> None:
        self.sent: deque[tuple[str, str]] = deque(maxlen=1000)

    async def send(self, phone: str, content: str) -> GatewayReply:
        log.info("simulated SMS to %s: %r", gateway_number(phone), content)
        self.sent.append((phone, content))
        return GatewayReply(200, "OK (simulated)")

    async def close(self) -> None:
        pass


def gateway_from_config(config: Mapping[str, Any]) -> GatewayClient:
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
