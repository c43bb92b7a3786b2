"""Where a click goes: the token's destination plus the brand's UTM parameters and click id.

The destination inside a token was normalised to ASCII by the link builder and is
authenticated, so it goes into the Location header as it is; the edge only appends
parameters. (A token minted before normalisation was as strict may hold non-ASCII or a
space: that destination is normalised again, or the click goes to the landing page.)
The UTM part depends on (channel, campaign, job source) only, for the usual templates,
and is cached per combination: a campaign sends to millions of recipients.
"""

from __future__ import annotations

import re
import string
import urllib.parse

from tracer.brands import Brand
from tracer.links import LinkError, normalize_destination

_CACHE_LIMIT = 4096


class RedirectBuilder:
    def __init__(self, brand: Brand) -> None:
        self.brand_id = brand.id
        self.landing_url = brand.landing_url
        self.templates = list(brand.utm.items())
        self.override = brand.utm_override
        self.click_param = f"{brand.click_id_param}="
        # A destination matching this may already carry our parameters.
        names = [name for name, _ in self.templates] + [brand.click_id_param]
        self._heads = sorted({name[:3] for name in names})
        self._carries_ours = re.compile(
            "[?&](?:" + "|".join(re.escape(name) for name in names) + ")="
        ).search
        fields = {
            name
            for _, template in self.templates
            for _, name, _, _ in string.Formatter().parse(template)
            if name
        }
        # Templates using per-message fields cannot share a cached suffix.
        self.cacheable = not fields & {"message_id", "link"}
        self._cache: dict[tuple[str, str, str], str] = {}

    def location(
        self,
        url: str,
        channel: str,
        campaign: str,
        job_source: str,
        message_id: str,
        link: int,
        click_id: str,
    ) -> bytes:
        if self.cacheable:
            key = (channel, campaign, job_source)
            suffix = self._cache.get(key)
            if suffix is None:
                suffix = self._suffix(channel, campaign, job_source, message_id, link)
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key] = suffix
        else:
            suffix = self._suffix(channel, campaign, job_source, message_id, link)
        if " " in url or not url.isascii():
            url = self._renormalized(url)
        if "#" in url:
            url, hash_sign, fragment = url.partition("#")
            fragment = hash_sign + fragment
        else:
            fragment = ""
        if "?" in url:
            for head in self._heads:
                # Cheap test first; the exact one only for the few URLs that may match.
                if head in url and self._carries_ours(url) is not None:
                    url, suffix = self._merge(url, suffix)
                    break
            separator = "" if url[-1] == "?" or url[-1] == "&" else "&"
        else:
            separator = "?"
        if suffix:
            return f"{url}{separator}{suffix}&{self.click_param}{click_id}{fragment}".encode()
        return f"{url}{separator}{self.click_param}{click_id}{fragment}".encode()

    def _renormalized(self, url: str) -> str:
        """A destination sealed by an older, laxer link builder, as it would be sealed now."""
        try:
            return normalize_destination(url)
        except LinkError:
            return self.landing_url

    def _suffix(
        self, channel: str, campaign: str, job_source: str, message_id: str, link: int
    ) -> str:
        values = {
            "brand": self.brand_id,
            "channel": channel,
            "campaign": campaign,
            "job_source": job_source,
            "message_id": message_id,
            "link": str(link),
        }
        pairs = []
        for name, template in self.templates:
            value = template.format_map(values)
            if value:
                pairs.append((name, value))
        return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)

    def _merge(self, url: str, suffix: str) -> tuple[str, str]:
        """Resolve parameters present both in the destination and in our suffix: keep the
        destination's unless the brand overrides; our click id always replaces theirs."""
        base, _, query = url.partition("?")
        ours = urllib.parse.parse_qsl(suffix, keep_blank_values=True)
        ours_names = {name for name, _ in ours}
        click_name = self.click_param[:-1]
        kept = []
        theirs_names = set()
        for part in query.split("&"):
            name = urllib.parse.unquote_plus(part.split("=", 1)[0])
            if name == click_name or (self.override and name in ours_names):
                continue
            theirs_names.add(name)
            if part:
                kept.append(part)
        if not self.override:
            ours = [(name, value) for name, value in ours if name not in theirs_names]
        merged = "&".join(kept)
        return f"{base}?{merged}", urllib.parse.urlencode(ours, quote_via=urllib.parse.quote)
