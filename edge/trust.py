"""The client's address: the peer, or what a trusted reverse proxy says it is."""

from __future__ import annotations

import ipaddress
from typing import Any

from tracer.errors import ConfigurationError

_CACHE_LIMIT = 4096


class ClientAddress:
    """`X-Forwarded-For` is believed only when the peer is a trusted proxy; the client is
    then the right-most address in the header that is not itself a trusted proxy."""

    def __init__(self, trusted_proxies: str) -> None:
        try:
            self.networks = [
                ipaddress.ip_network(part.strip(), strict=False)
                for part in trusted_proxies.split(",")
                if part.strip()
            ]
        except ValueError as exc:
            raise ConfigurationError(f"trusted_proxies: {exc}") from None
        self._trusted: dict[str, bool] = {}

    def is_trusted(self, ip: str) -> bool:
        known = self._trusted.get(ip)
        if known is None:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                known = False
            else:
                known = any(address in network for network in self.networks)
            if len(self._trusted) >= _CACHE_LIMIT:
                self._trusted.clear()
            self._trusted[ip] = known
        return known

    def __call__(self, client: Any, headers: dict[bytes, bytes]) -> str:
        """`client` is the ASGI scope's (host, port) of the peer, or None."""
        peer = client[0] if client else ""
        if not self.networks or not self.is_trusted(peer):
            return peer
        forwarded = headers.get(b"x-forwarded-for")
        if not forwarded:
            return peer
        for candidate in reversed(forwarded.decode("latin-1").split(",")):
            candidate = candidate.strip()
            if not self.is_trusted(candidate):
                return candidate if _is_ip(candidate) else peer
        return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
