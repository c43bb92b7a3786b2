"""The link builder: tracked click, open-pixel and unsubscribe URLs for a brand.

    builder = LinkBuilder(brands, keyring)
    builder.click("northjobs", "m-1", "https://northjobs.example/jobs/42", recipient="a@b.example")

Every URL points at the brand's first tracking host and carries an authenticated token;
the recipient is reduced to a keyed hash before it goes into the token.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable

from tracer.brands import Brand, Brands, is_http_url
from tracer.errors import TracerError
from tracer.events import CHANNELS, POSITIONS
from tracer.keyring import KeyRing
from tracer.privacy import RecipientHasher, mask_recipient
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE, LinkPayload, TokenCodec

MAX_URL_CHARS = 4096
# Characters kept as they are in destination URLs; everything else is percent-encoded.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


class LinkError(TracerError, ValueError):
    """A link cannot be built from these arguments (the message says which one and why)."""


# A URL that normalizing leaves as it is: lower-case scheme and host (nothing but host-name
# characters and a port before the first '/'), and only characters `_URL_SAFE` keeps after
# it. Most destinations are like this; checking takes one match instead of the split,
# IDNA and percent-encoding steps.
_ALREADY_NORMAL = re.compile(
    r"https?://[a-z0-9.\-]+(?::[0-9]*)?(?:/[A-Za-z0-9!#$%&'()*+,\-./:;=?@\[\]_~]*)?"
)


def normalize_destination(url: str) -> str:
    """An ASCII-only http(s) URL, or `LinkError`: non-ASCII and spaces are percent-encoded
    so the edge can put the URL in a Location header as it is."""
    url = url.strip()
    if len(url) <= MAX_URL_CHARS and _ALREADY_NORMAL.fullmatch(url):
        return url
    return _normalize(url)


def _normalize(url: str) -> str:
    """`normalize_destination` of any stripped URL, step by step."""
    if not is_http_url(url.replace(" ", "%20")):
        raise LinkError(f"url: {url[:200]!r} is not an absolute http(s) URL")
    scheme, _, rest = url.partition("://")
    host, slash, tail = rest.partition("/")
    try:
        host = _idna_host(host)
    except UnicodeError:
        raise LinkError(f"url: {url[:200]!r} has an invalid host name") from None
    normalized = f"{scheme.lower()}://{host}{slash}{urllib.parse.quote(tail, safe=_URL_SAFE)}"
    if len(normalized) > MAX_URL_CHARS:
        raise LinkError(f"url: longer than {MAX_URL_CHARS} characters")
    return normalized


def _idna_host(host: str) -> str:
    userinfo, at, hostport = host.rpartition("@")
    if hostport.startswith("["):
        return host
    name, colon, port = hostport.partition(":")
    if not name.isascii():
        name = name.encode("idna").decode("ascii")
    return f"{userinfo}{at}{name.lower()}{colon}{port}"


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
