"""The client's address: the peer, or what a trusted reverse proxy says it is.

Worked out by the batcher from a raw hit's peer and X-Forwarded-For bytes (tracer/hits.py).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from tracer.errors import ConfigurationError

_CACHE_LIMIT = 4096


class ClientAddress:
    """`X-Forwarded-For` is believed only when the peer is a trusted proxy; the client is
    then the right-most address in the header that is not itself a trusted proxy.

    Addresses are checked with `inet_pton` against packed network bounds: behind a proxy
    every request brings a new client address, so this runs for each of them."""

    def __init__(self, trusted_proxies: str) -> None:
        try:
            networks = [
                ipaddress.ip_network(part.strip(), strict=False)
                for part in trusted_proxies.split(",")
                if part.strip()
            ]
        except ValueError as exc:
            raise ConfigurationError(f"trusted_proxies: {exc}") from None
        self.networks = networks
        # (family, first, last) as packed bytes: bytes of one length compare as numbers.
        self._bounds = [
            (
                socket.AF_INET if net.version == 4 else socket.AF_INET6,
                net.network_address.packed,
                net.broadcast_address.packed,
            )
            for net in networks
        ]
        self._peers: dict[str, bool] = {}

    def is_trusted(self, ip: str) -> bool:
        """Whether `ip` is a trusted proxy (False for anything that is not an address)."""
        return self._trust(ip) is True

    def _trust(self, ip: str) -> bool | None:
        """True for a trusted proxy, False for another address, None for no address."""
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        try:
            packed = socket.inet_pton(family, ip)
        except (OSError, ValueError):
            return None
        return any(kind == family and first <= packed <= last for kind, first, last in self._bounds)

    def _trusted_peer(self, peer: str) -> bool:
        # Peers are few (the proxies themselves): remember their answer.
        known = self._peers.get(peer)
        if known is None:
            if len(self._peers) >= _CACHE_LIMIT:
                self._peers.clear()
            known = self._peers[peer] = self.is_trusted(peer)
        return known

    def __call__(self, peer: Any, forwarded: bytes) -> str:
        """The client of a request from `peer` (the ASGI scope's [host, port], or None)
        whose X-Forwarded-For header was `forwarded` (b"" when absent)."""
        peer = peer[0] if peer and isinstance(peer[0], str) else ""
        if not self._bounds or not forwarded or not self._trusted_peer(peer):
            return peer
        for candidate in reversed(forwarded.decode("latin-1").split(",")):
            candidate = candidate.strip()
            # One parse per candidate: a trusted proxy is skipped, another address is the
            # client, and anything else means the header cannot be believed.
            trusted = self._trust(candidate)
            if trusted is None:
                return peer
            if not trusted:
                return candidate
        return peer
