"""SSRF guard: webhook requests never reach loopback, private, link-local or reserved
addresses unless the endpoint sets `allow_private = true`.

The check sits in the connector's socket factory, which sees the very address about to be
connected to, after DNS resolution and for IP literals alike. Checking the URL or the
first lookup would not do: a DNS name can answer a public address first and a private one
when it matters (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket

# Marks the refusal in error messages, which aiohttp may fold into a generic OSError when
# several addresses of one name were refused.
REFUSED = "refused by the SSRF guard"


class RefusedAddress(OSError):
    """The target address is not a public one and the endpoint does not allow private ones."""


def forbidden_reason(address: str) -> str | None:
    """Why connecting to `address` is refused, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    # Shared address space (100.64/10), documentation ranges and the like.
    if not ip.is_global:
        return "not global"
    return None


def is_refusal(error: BaseException) -> bool:
    return isinstance(error, RefusedAddress) or REFUSED in str(error)


def guarded_socket(addr_info: tuple) -> socket.socket:
    """aiohttp `socket_factory`: refuse non-public targets, else make the socket as usual."""
    family, type_, proto, _, sockaddr = addr_info
    reason = forbidden_reason(sockaddr[0])
    if reason is not None:
        raise RefusedAddress(f"{sockaddr[0]} is {reason}: {REFUSED} (allow_private is off)")
    return socket.socket(family=family, type=type_, proto=proto)
