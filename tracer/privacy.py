"""Recipient pseudonymisation and client-address truncation.

Recipients (email addresses, phone numbers) never appear in tokens, events, webhooks or
logs: they are replaced by a keyed hash that is different for every brand, so two brands'
data cannot be joined on it, and that cannot be reversed without the key ring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket

_PHONE = re.compile(r"\+?[0-9 ().\-]{6,20}")


def normalize_recipient(recipient: str) -> str:
    """Canonical form: email addresses lower-cased, phone numbers reduced to + and digits."""
    text = recipient.strip()
    if "@" not in text and _PHONE.fullmatch(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        return ("+" if text.startswith("+") else "") + digits
    return text.lower()


class RecipientHasher:
    """Keyed, per-brand hashes of recipients: 22 base64url characters (128 bits)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._brand_keys: dict[str, bytes] = {}
        # A message's links all hash the same recipient: remember the last one.
        self._last: tuple[str, str, str] = ("", "", "")

    def _brand_key(self, brand: str) -> bytes:
        key = self._brand_keys.get(brand)
        if key is None:
            key = hmac.new(self._secret, b"recipient:" + brand.encode(), hashlib.sha256).digest()
            self._brand_keys[brand] = key
        return key

    def hash(self, brand: str, recipient: str) -> str:
        if not recipient:
            return ""
        last_brand, last_recipient, last_hash = self._last
        if brand == last_brand and recipient == last_recipient:
            return last_hash
        digest = hmac.new(
            self._brand_key(brand), normalize_recipient(recipient).encode(), hashlib.sha256
        ).digest()
        hashed = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")
        self._last = (brand, recipient, hashed)
        return hashed


def mask_recipient(recipient: str) -> str:
    """What the unsubscribe page may show: enough to recognise, not enough to harvest."""
    text = recipient.strip()
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}•••@{domain.lower()}"
    digits = normalize_recipient(text)
    return f"•••{digits[-2:]}" if len(digits) > 2 else "•••"


class IpTruncator:
    """Keeps the leading bits of a client address that the brand's privacy setting allows."""

    def __init__(self, ipv4_prefix: int, ipv6_prefix: int) -> None:
        self.ipv4_prefix = ipv4_prefix
        self.ipv6_prefix = ipv6_prefix

    def __call__(self, ip: str) -> str:
        if not ip:
            return ""
        if ":" not in ip:
            prefix = self.ipv4_prefix
            if prefix == 32:
                return ip
            if prefix == 24:
                head, dot, _ = ip.rpartition(".")
                return f"{head}.0" if dot else ""
            if prefix == 0:
                return ""
        # IPv6, which may be an IPv4 client in disguise (::ffff:a.b.c.d): always parsed.
        return self._slow(ip)

    def _slow(self, ip: str) -> str:
        # inet_pton/inet_ntop rather than `ipaddress`: several times faster, and this runs
        # for every IPv6 client.
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        try:
            packed = socket.inet_pton(family, ip)
        except (OSError, ValueError):
            return ""
        if family == socket.AF_INET6 and packed[:12] == _V4_MAPPED_PREFIX:
            # An IPv4-mapped address is an IPv4 client: the IPv4 rule applies to it.
            family, packed = socket.AF_INET, packed[12:]
        prefix = self.ipv6_prefix if family == socket.AF_INET6 else self.ipv4_prefix
        if prefix == 0:
            return ""
        width = len(packed) * 8
        kept = int.from_bytes(packed, "big") >> (width - prefix) << (width - prefix)
        return socket.inet_ntop(family, kept.to_bytes(len(packed), "big"))


_V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
