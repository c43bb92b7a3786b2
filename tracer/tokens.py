"""Self-contained, authenticated link tokens.

A token is ``base64url(version | key id | nonce | AES-GCM(ciphertext + tag))`` without
padding. The plaintext is a `LinkPayload` in compact msgpack. The header (version and key
id) is the associated data, so flipping any byte of the token makes it fail to open: the
edge never needs a lookup to know where a link goes, and a link cannot be bent into an open
redirect or made to reveal its recipient.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tracer.errors import TokenError
from tracer.keyring import KeyRing

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 3
MIN_TOKEN_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES + 1
# Longer tokens are refused before any work is done (the destination URL is at most 4 KB).
MAX_TOKEN_CHARS = 6144

# Link kinds, stored as small integers to keep tokens short.
CLICK, OPEN, UNSUBSCRIBE = 0, 1, 2
KIND_NAMES = {CLICK: "click", OPEN: "open", UNSUBSCRIBE: "unsubscribe"}


class LinkPayload(msgspec.Struct, array_like=True, frozen=True, omit_defaults=True):
    """What a tracked link knows. Fields are only ever appended, with defaults, so tokens
    already in people's inboxes keep decoding (array_like omits trailing defaults)."""

    kind: int
    brand: str
    message_id: str
    # Unix seconds when the link was made, i.e. about when the message was sent.
    issued: int
    url: str = ""
    link: int = 0
    campaign: str = ""
    job_source: str = ""
    channel: str = "email"
    # Keyed hash of the recipient (never the address or number itself).
    recipient: str = ""
    position: str = ""
    # Suppression scope of an unsubscribe link: "" for all marketing, else a list id.
    list_id: str = ""
    # Masked address shown on the unsubscribe page, e.g. "j•••@example.com".
    hint: str = ""
    canary: bool = False


_encode_payload = msgspec.msgpack.Encoder().encode
_decode_payload = msgspec.msgpack.Decoder(LinkPayload).decode

# base64url -> standard alphabet; '+', '/' and '=' become '*' so strict decoding rejects
# them and every link has exactly one spelling (tokens are never padded: the padding the
# decoder needs is added after this translation).
_FROM_URLSAFE = bytes.maketrans(b"-_+/=", b"+/***")


class TokenCodec:
    """Seals payloads with the ring's active key; opens them with any non-retired key."""

    def __init__(self, ring: KeyRing) -> None:
        active = ring.active
        self._seal_id = active.id
        self._seal = AESGCM(active.material())
        self._header = bytes((VERSION,)) + active.id.to_bytes(2, "big")
        # Keyed by the whole header (version + key id), which is also the associated data.
        self._openers = {
            bytes((VERSION,)) + key_id.to_bytes(2, "big"): AESGCM(material)
            for key_id, material in ring.usable().items()
        }
        self._urandom = os.urandom

    def seal(self, payload: LinkPayload) -> str:
        nonce = self._urandom(NONCE_BYTES)
        sealed = self._seal.encrypt(nonce, _encode_payload(payload), self._header)
        raw = self._header + nonce + sealed
        return (
            binascii.b2a_base64(raw, newline=False)
            .rstrip(b"=")
            .translate(_TO_URLSAFE)
            .decode("ascii")
        )

    def open(self, token: str) -> LinkPayload:
        """The payload of `token`; raises `TokenError` for anything but an intact token."""
        return self.open_plain(token)[1]

    def open_plain(self, token: str) -> tuple[bytes, LinkPayload]:
        """The decrypted payload bytes of `token` and their decoding (a raw hit carries
        the bytes, so the batcher decodes them without opening the token again)."""
        plaintext = self._decrypt(token)
        try:
            return plaintext, _decode_payload(plaintext)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise TokenError("payload does not decode", "bad_payload") from None

    def _decrypt(self, token: str) -> bytes:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError("token too long", "token_too_long")
        tail = len(token) & 3
        if tail and token[-1] not in _CANONICAL_LAST[tail]:
            # The last character's unused bits must be zero: one spelling per token.
            raise TokenError("not base64url", "bad_encoding")
        try:
            encoded = token.encode("ascii").translate(_FROM_URLSAFE)
            raw = binascii.a2b_base64(encoded + b"=" * (-len(encoded) % 4), strict_mode=True)
        except (UnicodeEncodeError, binascii.Error):
            raise TokenError("not base64url", "bad_encoding") from None
        header = raw[:3]
        opener = self._openers.get(header)
        if opener is None or len(raw) < MIN_TOKEN_BYTES:
            if len(raw) < MIN_TOKEN_BYTES or raw[0] != VERSION:
                raise TokenError("unknown token version", "bad_version")
            raise TokenError("unknown or retired key id", "unknown_key")
        try:
            return opener.decrypt(raw[3:15], raw[15:], header)
        except InvalidTag:
            raise TokenError("authentication failed", "tampered") from None


def decode_payload(plaintext: bytes) -> LinkPayload:
    """A payload from the bytes `TokenCodec.open_plain` returned (raises msgspec errors)."""
    return _decode_payload(plaintext)


class TokenShape:
    """The structure-only check of a token, for requests answered without opening it (the
    open pixel): length, alphabet, version byte and a known key id. No decryption: the
    batcher opens the token later and drops it, counted, if it does not authenticate.

    The first four characters of a token are exactly the base64 of its three header
    bytes (version and key id), so the header check is one set lookup."""

    def __init__(self, ring: KeyRing) -> None:
        self._headers = frozenset(
            _b64url(bytes((VERSION,)) + key_id.to_bytes(2, "big")) for key_id in ring.usable()
        )
        self._fullmatch = re.compile(
            f"[A-Za-z0-9_-]{{{_MIN_TOKEN_CHARS},{MAX_TOKEN_CHARS}}}"
        ).fullmatch

    def __call__(self, token: str) -> bool:
        # Deleting the alphabet's bytes leaves nothing of a well-formed token: a C loop over
        # a 256-entry table, three times faster than the regular expression.
        return (
            token[:4] in self._headers
            and _MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS
            and token.isascii()
            and not token.encode("ascii").translate(None, _ALPHABET_BYTES)
        )

    def problem(self, token: str) -> str:
        """Why `token` has the wrong shape (for the rejection counter)."""
        if len(token) > MAX_TOKEN_CHARS:
            return "token_too_long"
        if len(token) < _MIN_TOKEN_CHARS or self._fullmatch(token) is None:
            return "bad_encoding"
        if token[:4] not in self._headers:
            if not token.startswith(_b64url(bytes((VERSION,)))[:2]):
                return "bad_version"
            return "unknown_key"
        return "bad_token"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_ALPHABET_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The shortest token: header, nonce, tag and one byte of payload, in base64 without padding.
_MIN_TOKEN_CHARS = (MIN_TOKEN_BYTES * 4 + 2) // 3


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_URLSAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Characters that may end a token of length 4n+2 (4 unused bits) or 4n+3 (2 unused bits).
_CANONICAL_LAST = {
    1: "",
    2: _URLSAFE_ALPHABET[::16],
    3: _URLSAFE_ALPHABET[::4],
}


def unix_now() -> int:
    return int(time.time())
