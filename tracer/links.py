"""The link builder: tracked click, open-pixel and unsubscribe URLs for a brand.

    builder = LinkBuilder(brands, keyring)
    builder.click("northjobs", "m-1", "https://northjobs.example/jobs/42", recipient="a@b.example")

Every URL points at the brand's first tracking host and carries an authenticated token;
the recipient is reduced to a keyed hash before it goes into the token.

Destinations are normalised the way a browser (a WHATWG URL parser) reads them, before
they are sealed: the authority ends at the first `/`, `\\`, `?` or `#`; the host goes
through UTS-46 with the STD3 rules (`idna`), so a full-width solidus or commercial at
cannot move the host somewhere else, and anything but letters, digits, hyphens and dots
in the mapped host is refused; the port is numeric; IP literals are validated; user info
is percent-encoded. The result is ASCII and names the host a browser would go to, so the
edge can put it in a `Location` header as it is.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from collections.abc import Callable

import idna

from tracer.brands import Brand, Brands
from tracer.errors import TracerError
from tracer.events import CHANNELS, POSITIONS
from tracer.keyring import KeyRing
from tracer.privacy import RecipientHasher, mask_recipient
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE, LinkPayload, TokenCodec

MAX_URL_CHARS = 4096
MAX_PORT = 65535
# Characters kept as they are in destination URLs; everything else is percent-encoded.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
# User info keeps what a WHATWG serializer keeps (its userinfo percent-encode set aside).
_USERINFO_SAFE = "!$&'()*+,%-._~"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"(https?)://", re.IGNORECASE)
# Where a browser ends the authority of an http(s) URL.
_AUTHORITY_END = re.compile(r"[/\\?#]")
# A host name as a browser sends it to DNS: ASCII labels of letters, digits and hyphens.
_ASCII_HOST = re.compile(r"(?:[a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}\.?")
_DOTTED_QUAD_PART = re.compile(r"0|[1-9][0-9]{0,2}")
# What a browser reads as a number in the last label of a host (then an IPv4 address).
_NUMBER_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
# Whitespace and control characters other than the space (which is percent-encoded in the
# path, and refused in the authority).
_UNSAFE = re.compile(r"[^\S ]|[\x00-\x1f\x7f]")


class LinkError(TracerError, ValueError):
    """A link cannot be built from these arguments (the message says which one and why)."""


# A URL that normalizing leaves as it is: lower-case scheme and host name whose last label
# starts with a letter (so it is no IPv4 address to a browser), an optional port without a
# leading zero, and only characters `_URL_SAFE` keeps after the first '/'. Most
# destinations are like this; checking takes one match instead of the full steps.
_ALREADY_NORMAL = re.compile(
    r"https?://(?P<host>(?:[a-z0-9-]{1,63}\.)*[a-z][a-z0-9-]{0,62}\.?)(?::(?P<port>[1-9][0-9]{0,4}))?"
    r"(?:/[A-Za-z0-9!#$%&'()*+,\-./:;=?@\[\]_~]*)?"
)


def normalize_destination(url: str) -> str:
    """The URL a browser would follow, as ASCII, or `LinkError`: the host in its IDNA
    form (refused unless it maps to letters, digits, hyphens and dots), non-ASCII and
    spaces percent-encoded outside the authority, and no space within it."""
    url = url.strip()
    if len(url) <= MAX_URL_CHARS:
        match = _ALREADY_NORMAL.fullmatch(url)
        if (
            match is not None
            and "xn--" not in match["host"]
            and (match["port"] is None or int(match["port"]) <= MAX_PORT)
        ):
            return url
    return _normalize(url)


def _normalize(url: str) -> str:
    """`normalize_destination` of any stripped URL, step by step."""
    if len(url) > MAX_URL_CHARS:
        raise LinkError(f"url: longer than {MAX_URL_CHARS} characters")
    scheme = _SCHEME.match(url)
    if scheme is None or _UNSAFE.search(url) is not None:
        raise LinkError(f"url: {url[:200]!r} is not an absolute http(s) URL")
    rest = url[scheme.end() :]
    end = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    if not authority:
        raise LinkError(f"url: {url[:200]!r} has no host")
    try:
        normalized = (
            f"{scheme[1].lower()}://{_authority(authority)}"
            f"{urllib.parse.quote(_path_slashes(tail), safe=_URL_SAFE)}"
        )
    except _BadPart as exc:
        raise LinkError(f"url: {url[:200]!r} has {exc}") from None
    except UnicodeError:
        raise LinkError(f"url: {url[:200]!r} is not valid Unicode") from None
    if len(normalized) > MAX_URL_CHARS:
        raise LinkError(f"url: longer than {MAX_URL_CHARS} characters")
    return normalized


class _BadPart(ValueError):
    """Which part of the authority is wrong ("an invalid port", …)."""


def _authority(authority: str) -> str:
    userinfo, at, hostport = authority.rpartition("@")
    if " " in authority:
        raise _BadPart("a space in its host part")
    if hostport.startswith("["):
        close = hostport.find("]")
        host = _ip_literal(hostport[1:close] if close > 0 else hostport)
        after = hostport[close + 1 :] if close > 0 else "x"
        if after and not after.startswith(":"):
            raise _BadPart("an invalid IPv6 address")
        port = after[1:]
    else:
        name, _, port = hostport.partition(":")
        host = _host(name)
    return f"{_userinfo(userinfo) if at else ''}{at}{host}{_port(port)}"


def _ip_literal(text: str) -> str:
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise _BadPart("an invalid IPv6 address") from None
    if address.scope_id is not None:
        raise _BadPart("an invalid IPv6 address (zone ids are not allowed in URLs)")
    return f"[{address.compressed}]"


def _port(port: str) -> str:
    if not port:
        return ""  # "host:" is the default port, as browsers read it
    if not (port.isascii() and port.isdigit()) or int(port) > MAX_PORT:
        raise _BadPart("an invalid port")
    return f":{int(port)}"


def _userinfo(userinfo: str) -> str:
    return ":".join(
        urllib.parse.quote(_STRAY_PERCENT.sub("%25", part), safe=_USERINFO_SAFE)
        for part in userinfo.split(":", 1)
    )


def normalize_host(name: str) -> str:
    """`name` as the host part of a destination URL is normalised (IDNA, lower case, a
    canonical IPv4 address); raises `LinkError` when no browser would go there."""
    try:
        return _host(name.strip())
    except _BadPart as exc:
        raise LinkError(f"host: {name[:200]!r} is {str(exc).removeprefix('an ')}") from None


def _host(name: str) -> str:
    lowered = name.lower()
    if lowered.isascii() and _ASCII_HOST.fullmatch(lowered) and "xn--" not in lowered:
        mapped = lowered
    else:
        try:
            mapped = idna.encode(name, uts46=True, std3_rules=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise _BadPart("an invalid host name") from None
        if not _ASCII_HOST.fullmatch(mapped):
            raise _BadPart("an invalid host name")
    bare = mapped.rstrip(".")
    if _NUMBER_LABEL.fullmatch(bare.rpartition(".")[2]):
        # A browser reads a host that ends in a number as an IPv4 address ("127.1",
        # "0x7f.1"): only the one spelling that means what it says is accepted.
        parts = bare.split(".")
        if len(parts) != 4 or not all(
            _DOTTED_QUAD_PART.fullmatch(part) and int(part) < 256 for part in parts
        ):
            raise _BadPart("an invalid IPv4 address")
        return bare
    return mapped


def _path_slashes(tail: str) -> str:
    """A browser reads `\\` as `/` in the path of an http(s) URL (not in its query)."""
    if "\\" not in tail:
        return tail
    cut = len(tail)
    for separator in "?#":
        found = tail.find(separator)
        if found != -1:
            cut = min(cut, found)
    return tail[:cut].replace("\\", "/") + tail[cut:]


class LinkBuilder:
    """Builds tracked URLs. Thread-safe; reuse one per process."""

    def __init__(
        self, brands: Brands, ring: KeyRing, clock: Callable[[], float] = time.time
    ) -> None:
        self.brands = brands
        self.codec = TokenCodec(ring)
        self.hasher = RecipientHasher(ring.recipient_secret())
        self.clock = clock

    def _brand(self, brand_id: str) -> Brand:
        brand = self.brands.by_id.get(brand_id)
        if brand is None:
            raise LinkError(f"brand: {brand_id!r} is not a configured brand")
        return brand

    def _url(self, brand: Brand, route: str, payload: LinkPayload, suffix: str = "") -> str:
        return f"https://{brand.primary_host}/{route}/{self.codec.seal(payload)}{suffix}"

    def click(
        self,
        brand_id: str,
        message_id: str,
        url: str,
        *,
        recipient: str = "",
        campaign: str = "",
        job_source: str = "",
        channel: str = "email",
        link: int = 0,
        canary: bool = False,
    ) -> str:
        payload = self.click_payload(
            brand_id,
            message_id,
            url,
            recipient=recipient,
            campaign=campaign,
            job_source=job_source,
            channel=channel,
            link=link,
            canary=canary,
        )
        return self.seal_click(payload)

    def seal_click(self, payload: LinkPayload) -> str:
        """The `/c/` URL of a payload made by `click_payload`."""
        return self._url(self.brands.by_id[payload.brand], "c", payload)

    def click_payload(
        self,
        brand_id: str,
        message_id: str,
        url: str,
        *,
        recipient: str = "",
        campaign: str = "",
        job_source: str = "",
        channel: str = "email",
        link: int = 0,
        canary: bool = False,
    ) -> LinkPayload:
        """What a click link carries (sealed into `/c/` links, stored behind SMS slugs)."""
        brand = self._brand(brand_id)
        _check_message(message_id, channel)
        return LinkPayload(
            kind=CLICK,
            brand=brand.id,
            message_id=message_id,
            issued=int(self.clock()),
            url=normalize_destination(url),
            link=link,
            campaign=campaign,
            job_source=job_source,
            channel=channel,
            recipient=self.hasher.hash(brand.id, recipient),
            canary=canary,
        )

    def short_url(self, brand_id: str, slug: str) -> str:
        return f"https://{self._brand(brand_id).primary_host}/s/{slug}"

    def open(
        self,
        brand_id: str,
        message_id: str,
        *,
        recipient: str = "",
        position: str = "footer",
        campaign: str = "",
        job_source: str = "",
    ) -> str:
        brand = self._brand(brand_id)
        _check_message(message_id, "email")
        if position not in POSITIONS:
            raise LinkError(f"position: {position!r} is not one of {', '.join(POSITIONS)}")
        payload = LinkPayload(
            kind=OPEN,
            brand=brand.id,
            message_id=message_id,
            issued=int(self.clock()),
            campaign=campaign,
            job_source=job_source,
            recipient=self.hasher.hash(brand.id, recipient),
            position=position,
        )
        return self._url(brand, "o", payload, ".gif")

    def unsubscribe(
        self,
        brand_id: str,
        message_id: str,
        *,
        recipient: str,
        list_id: str = "",
        campaign: str = "",
        job_source: str = "",
        channel: str = "email",
    ) -> str:
        brand = self._brand(brand_id)
        _check_message(message_id, channel)
        if not recipient.strip():
            raise LinkError("recipient: an unsubscribe link needs the recipient")
        if list_id and list_id not in brand.unsubscribe.lists:
            raise LinkError(f"list_id: {list_id!r} is not a list of brand {brand.id!r}")
        payload = LinkPayload(
            kind=UNSUBSCRIBE,
            brand=brand.id,
            message_id=message_id,
            issued=int(self.clock()),
            campaign=campaign,
            job_source=job_source,
            channel=channel,
            recipient=self.hasher.hash(brand.id, recipient),
            list_id=list_id,
            hint=mask_recipient(recipient),
        )
        return self._url(brand, "u", payload)


def _check_message(message_id: str, channel: str) -> None:
    if not message_id or len(message_id) > 200:
        raise LinkError("message_id: must be 1 to 200 characters")
    if channel not in CHANNELS:
        raise LinkError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
