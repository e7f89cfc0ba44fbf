"""Where a webhook may point (SSRF): checked when it is set and again before every POST.

https to public addresses; http, loopback and private addresses only when the deployment
allows them (`WEBHOOK_ALLOW_HTTP=true`, for a receiver on the same host or network).
Link-local addresses (cloud metadata at 169.254.169.254 among them), multicast and
unspecified addresses are always refused, whatever a name resolves to.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from smspanel.services.wording import _

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(ValueError):
    """The URL may not receive webhooks; the message says why, in the user's language."""


class UnresolvedHost(RefusedDestination):
    """The host name does not resolve (now)."""


@dataclass(frozen=True)
class Destination:
    url: str
    host: str
    port: int
    https: bool


def parse_destination(url: str, allow_private: bool) -> Destination:
    """The URL's form: scheme, host and port, without resolving the name."""
    url = (url or "").strip()
    if not url:
        raise RefusedDestination(_("Enter the URL that should receive the events."))
    if len(url) > MAX_URL_LENGTH:
        raise RefusedDestination(
            _("The URL is too long (at most %(limit)s characters).", limit=MAX_URL_LENGTH)
        )
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise RefusedDestination(_("The URL must not contain spaces or control characters."))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise RefusedDestination(_("The URL must start with https://."))
    if scheme == "http" and not allow_private:
        raise RefusedDestination(
            _(
                "The URL must use https:// (plain http is allowed only when the panel's "
                "administrator sets WEBHOOK_ALLOW_HTTP=true)."
            )
        )
    if parts.username or parts.password:
        raise RefusedDestination(_("The URL must not contain a user name or password."))
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise RefusedDestination(_("The URL's port is not a number from 1 to 65535.")) from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedDestination(_("The URL has no host name."))
    return Destination(url=url, host=host, port=port, https=scheme == "https")


def refusal_for_address(address: IPAddress, allow_private: bool) -> str | None:
    """Why this address may not receive webhooks, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        return _(
            "%(address)s is a link-local, multicast or unspecified address "
            "(cloud metadata services live there).",
            address=str(address),
        )
    # Loopback before reserved: IPv6's ::1 is both. Reserved before private: Python counts
    # the unusable 240.0.0.0/4 as private.
    if address.is_loopback or (address.is_private and not address.is_reserved):
        if allow_private:
            return None
        return _(
            "%(address)s is this host or a private network; allowed only when "
            "WEBHOOK_ALLOW_HTTP=true.",
            address=str(address),
        )
    if address.is_reserved:
        return _("%(address)s is a reserved address.", address=str(address))
    return None


def resolve_destination(destination: Destination, allow_private: bool) -> Sequence[IPAddress]:
    """Every address the host resolves to, each checked; refuse if any is refused, so a
    name cannot mix a public address with a private one."""
    try:
        literal = ipaddress.ip_address(destination.host.strip("[]"))
        addresses: list[IPAddress] = [literal]
    except ValueError:
        try:
            infos = socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise UnresolvedHost(_("%(host)s could not be found.", host=destination.host)) from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    for address in addresses:
        reason = refusal_for_address(address, allow_private)
        if reason:
            raise RefusedDestination(reason)
    return addresses


def check_destination(url: str, allow_private: bool) -> Destination:
    """When a webhook is set: the URL's form, and every address it resolves to now.

    A name that does not resolve yet is accepted (internal DNS, a receiver not yet
    deployed): every POST resolves and checks it again, and fails if it still cannot.
    """
    destination = parse_destination(url, allow_private)
    with contextlib.suppress(UnresolvedHost):
        resolve_destination(destination, allow_private)
    return destination
