"""SSRF protection for outgoing webhooks: where a URL may point.

The host is resolved and every address it resolves to must be public: private, loopback,
link-local (cloud metadata lives there), multicast, reserved and unspecified addresses are
refused unless ``webhooks.allow_private_addresses`` is set by an administrator. The request
then goes to the address that was checked (the host name travels in ``Host`` and TLS SNI), so
a DNS answer that changes between check and connect cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ticketcreator.core.config import get_settings
from ticketcreator.notifications.errors import UnsafeUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL to connect to, and the host name it stands for."""

    url: str  # with the checked address in place of the host name
    host: str
    port: int

    @property
    def host_header(self) -> str:
        """The ``Host`` of a request to it: the host name, and the port unless the scheme's."""
        default_port = 443 if self.url.startswith("https") else 80
        return self.host if self.port == default_port else f"{self.host}:{self.port}"


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_syntax(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl("A webhook URL must be an absolute http(s) URL.")
    if parts.username or parts.password:
        raise UnsafeUrl("A webhook URL must not carry credentials.")


async def resolve(url: str) -> Target:
    """The checked destination of ``url``; :class:`UnsafeUrl` when it is not allowed."""
    check_syntax(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UnsafeUrl(f"The host {host!r} does not resolve.") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not get_settings().webhooks.allow_private_addresses:
        refused = [str(a) for a in addresses if not _public(a)]
        if refused:
            raise UnsafeUrl(
                f"The host {host!r} resolves to a non-public address ({refused[0]}); an "
                "administrator may allow such addresses (webhooks.allow_private_addresses)."
            )
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{port}"
    return Target(
        urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host, port
    )
