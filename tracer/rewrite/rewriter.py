"""Turn an outgoing email into its tracked form.

    result = rewrite_email(builder, "northjobs", "m-42", "jamie@example.com", html, text)
    result.html, result.text, result.header_lines()

Every http(s) link of the HTML and of the text part is replaced by a tracked click URL,
the HTML gets a header and a footer open pixel and a hidden canary link, and the caller
gets the RFC 8058 `List-Unsubscribe` headers. Nothing else in the message changes: the
rewriter splices new attribute values and snippets into the original text.
"""

from __future__ import annotations

import re
import time

import msgspec

from tracer.errors import TracerError
from tracer.links import MAX_URL_CHARS, POSITIONS, LinkBuilder, LinkError, normalize_destination
from tracer.rewrite.html_scan import HrefSite, scan_html
from tracer.rewrite.markup import canary_link, open_pixel
from tracer.rewrite.urls import (
    TEXT_URL,
    clean_url,
    decode_attribute,
    host_of,
    scheme_of,
    trim_text_url,
)

ONE_CLICK = "List-Unsubscribe=One-Click"
# Message links are numbered from 1, so that 0 keeps meaning "not a link of the message
# body" (the builder's default): the canary gets it, with `canary=True` in its token.
CANARY_LINK_INDEX = 0
TRACKED_SCHEMES = frozenset({"http", "https"})
# Why a link was left as it was, when that is the author's intent rather than a problem.
NOTRACK = "data-notrack"
RELATIVE = "relative URL"
ALREADY_TRACKED = "already a tracked link"
DELIBERATE_SKIPS = frozenset({NOTRACK, RELATIVE, ALREADY_TRACKED})
# A URL in the text part longer than this (sentence punctuation included) is left as it is
# before any trimming: no destination is that long, and the trimming stays cheap.
MAX_TEXT_URL_CHARS = 2 * MAX_URL_CHARS
TOO_LONG = f"longer than {MAX_URL_CHARS} characters"


class RewriteTimeout(TracerError):
    """Rewriting the message took longer than the caller's time budget."""


class TrackedLink(msgspec.Struct):
    """One tracked link of a message."""

    index: int  # 1, 2, … in order of first appearance (HTML first, then the text part)
    # The destination the tracked link carries: the URL as written (character references
    # decoded, edges trimmed), normalised as a browser reads it (`normalize_destination`).
    url: str
    tracked: str  # the https://{tracking host}/c/{token} URL that replaced it
    span: tuple[int, int] | None = None  # where the href value was in the HTML given
    in_text: bool = False  # the text part uses this link too
    written: str = ""  # the URL as written (references decoded, edges trimmed)


class SkippedLink(msgspec.Struct, frozen=True):
    """A web (or relative) link left as it was, and why; anchors, mailto: and tel: links
    are left alone without a mention."""

    url: str
    reason: str


class RewrittenEmail(msgspec.Struct):
    """One message to one recipient, ready to send (see docs/rewriting.md)."""

    html: str
    text: str | None
    links: list[TrackedLink]
    list_unsubscribe: str  # header value: "<https://…/u/…>"
    list_unsubscribe_post: str  # header value: "List-Unsubscribe=One-Click"
    open_urls: dict[str, str]  # "header" and "footer" pixel URLs
    canary_url: str
    unsubscribe_url: str
    skipped: list[SkippedLink]

    def header_lines(self) -> list[str]:
        """The two header lines to add to the message (RFC 2369 + RFC 8058)."""
        return [
            f"List-Unsubscribe: {self.list_unsubscribe}",
            f"List-Unsubscribe-Post: {self.list_unsubscribe_post}",
        ]


def rewrite_email(
    builder: LinkBuilder,
    brand: str,
    message_id: str,
    recipient: str,
    html: str,
    text: str | None = None,
    campaign: str = "",
    job_source: str = "",
    list_id: str = "",
    deadline: float | None = None,
) -> RewrittenEmail:
    """The tracked form of one message to one recipient.

    Raises `LinkError` for a bad brand, message id, recipient or list; a link that cannot
    be tracked (say, an invalid host name) is left as it is and listed in `skipped`. With a
    `deadline` (a `time.monotonic()` value), raises `RewriteTimeout` once it has passed.
    """
    # Built first: it checks every argument, so a LinkError from a click below can only
    # be about that link's URL.
    unsubscribe_url = builder.unsubscribe(
        brand,
        message_id,
        recipient=recipient,
        list_id=list_id,
        campaign=campaign,
        job_source=job_source,
    )
    links = _MessageLinks(builder, brand, message_id, recipient, campaign, job_source, deadline)
    open_urls = {
        position: builder.open(
            brand,
            message_id,
            recipient=recipient,
            position=position,
            campaign=campaign,
            job_source=job_source,
        )
        for position in POSITIONS
    }
    canary_url = links.canary()
    tracked_html = _rewrite_html(html, links, open_urls, canary_url)
    tracked_text = _rewrite_text(text, links) if text is not None else None
    return RewrittenEmail(
        html=tracked_html,
        text=tracked_text,
        links=links.all,
        list_unsubscribe=f"<{unsubscribe_url}>",
        list_unsubscribe_post=ONE_CLICK,
        open_urls=open_urls,
        canary_url=canary_url,
        unsubscribe_url=unsubscribe_url,
        skipped=links.skipped,
    )


def _rewrite_html(
    html: str, links: _MessageLinks, open_urls: dict[str, str], canary_url: str
) -> str:
    scan = scan_html(html)
    edits: list[tuple[int, int, str]] = []
    for site in scan.hrefs:
        tracked = links.for_href(site)
        if tracked is not None:
            edits.append((site.start, site.end, tracked))
    # The canary goes first in the body: scanners that follow only the first few links
    # of a message still reach it.
    header_at = scan.header_at
    edits.append((header_at, header_at, open_pixel(open_urls["header"]) + canary_link(canary_url)))
    footer_at = scan.footer_at(len(html))
    edits.append((footer_at, footer_at, open_pixel(open_urls["footer"])))
    # Stable: at one offset the header snippet stays before the footer's.
    edits.sort(key=lambda edit: edit[0])
    return _splice(html, edits)


def _rewrite_text(text: str, links: _MessageLinks) -> str:
    def replace(match: re.Match[str]) -> str:
        found = match[0]
        links.check_deadline()
        if len(found) > MAX_TEXT_URL_CHARS:
            links.skipped.append(SkippedLink(found, TOO_LONG))
            return found
        url = trim_text_url(found)
        tracked = links.for_text(url)
        return found if tracked is None else tracked + found[len(url) :]

    return TEXT_URL.sub(replace, text)


def _splice(source: str, edits: list[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    done = 0
    for start, end, replacement in edits:
        pieces.append(source[done:start])
        pieces.append(replacement)
        done = end
    pieces.append(source[done:])
    return "".join(pieces)


class _MessageLinks:
    """The tracked links of one message, numbered in order, one token each."""

    def __init__(
        self,
        builder: LinkBuilder,
        brand: str,
        message_id: str,
        recipient: str,
        campaign: str,
        job_source: str,
        deadline: float | None = None,
    ) -> None:
        self.builder = builder
        self.deadline = deadline
        self.brand = builder.brands.by_id[brand]  # known: checked by the caller
        self.message_id = message_id
        self.recipient = recipient
        self.campaign = campaign
        self.job_source = job_source
        # A link to any tracking host is a tracked link already (of this brand or of a
        # partner brand): wrapping it again would count each click twice.
        self.tracking_hosts = builder.brands.by_host
        self.all: list[TrackedLink] = []
        self.skipped: list[SkippedLink] = []
        self.first_by_url: dict[str, TrackedLink] = {}
        self.untracked_urls: set[str] = set()

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise RewriteTimeout("rewriting took longer than its time budget")

    def canary(self) -> str:
        return self._click(self.brand.landing_url, CANARY_LINK_INDEX, canary=True)

    def for_href(self, site: HrefSite) -> str | None:
        """The tracked URL to write in place of this href, or None to leave it."""
        self.check_deadline()
        url = clean_url(decode_attribute(site.raw))
        scheme = scheme_of(url)
        if scheme not in TRACKED_SCHEMES:
            if not scheme and url and not url.startswith("#"):
                self.skipped.append(SkippedLink(url, RELATIVE))
            return None
        if site.notrack:
            self.untracked_urls.add(url)
            self.skipped.append(SkippedLink(url, NOTRACK))
            return None
        if host_of(url) in self.tracking_hosts:
            self.skipped.append(SkippedLink(url, ALREADY_TRACKED))
            return None
        link = self._new_link(url, (site.start, site.end))
        if link is None:
            return None
        self.first_by_url.setdefault(url, link)
        return link.tracked

    def for_text(self, url: str) -> str | None:
        """The tracked URL for a URL of the text part: the HTML's link to the same place
        when there is one, so that both parts count as the same link."""
        link = self.first_by_url.get(url)
        if link is None:
            if url in self.untracked_urls or host_of(url) in self.tracking_hosts:
                return None
            link = self._new_link(url, None)
            if link is None:
                self.untracked_urls.add(url)
                return None
            self.first_by_url[url] = link
        link.in_text = True
        return link.tracked

    def _new_link(self, url: str, span: tuple[int, int] | None) -> TrackedLink | None:
        index = len(self.all) + 1
        try:
            destination = normalize_destination(url)
            tracked = self._click(destination, index)
        except LinkError as exc:
            self.skipped.append(SkippedLink(url, str(exc)))
            return None
        link = TrackedLink(index=index, url=destination, tracked=tracked, span=span, written=url)
        self.all.append(link)
        return link

    def _click(self, url: str, index: int, canary: bool = False) -> str:
        return self.builder.click(
            self.brand.id,
            self.message_id,
            url,
            recipient=self.recipient,
            campaign=self.campaign,
            job_source=self.job_source,
            link=index,
            canary=canary,
        )
