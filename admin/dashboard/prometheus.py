"""Reading the batcher's and the dispatcher's `/metrics`: a scrape over HTTP and a small
parser of the Prometheus text format (the roles render it by hand; the admin role needs no
client library to read it back).

A target that does not answer in time, or answers something else, is simply "down": the
dashboard shows what it has.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp

SCRAPE_TIMEOUT_S = 0.8

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Labels = tuple[tuple[str, str], ...]


@dataclass
class Samples:
    """One scrape: value by metric name and label set (labels as a sorted tuple)."""

    values: dict[str, dict[Labels, float]] = field(default_factory=dict)

    def series(self, name: str) -> dict[Labels, float]:
        return self.values.get(name, {})

    def total(self, name: str, **match: str) -> float:
        """Sum of the series of `name` whose labels include `match`."""
        return sum(value for labels, value in self.series(name).items() if _includes(labels, match))

    def merge(self, other: Samples) -> None:
        """Add `other` in: counters of several processes of one role add up."""
        for name, series in other.values.items():
            mine = self.values.setdefault(name, {})
            for labels, value in series.items():
                mine[labels] = mine.get(labels, 0.0) + value

    def buckets(self, name: str, **match: str) -> list[tuple[float, float]]:
        """Cumulative `(upper bound, count)` of histogram `name`, summed over the series
        that include `match`, in bound order."""
        totals: dict[float, float] = {}
        for labels, value in self.series(f"{name}_bucket").items():
            if not _includes(labels, match):
                continue
            bound = float(dict(labels).get("le", "+Inf"))
            totals[bound] = totals.get(bound, 0.0) + value
        return sorted(totals.items())


def parse(text: str) -> Samples:
    samples = Samples()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = _SAMPLE.match(line)
        if found is None:
            continue
        name, raw_labels, raw_value = found.groups()
        try:
            value = float(raw_value)
        except ValueError:
            continue
        if math.isnan(value):
            continue
        labels = tuple(sorted(_labels(raw_labels or "")))
        samples.values.setdefault(name, {})[labels] = value
    return samples


def _labels(text: str) -> Iterable[tuple[str, str]]:
    for key, raw in _LABEL.findall(text):
        yield key, re.sub(r'\\[\\"n]', lambda m: _ESCAPES[m.group(0)], raw)


def _includes(labels: Labels, match: dict[str, str]) -> bool:
    if not match:
        return True
    present = dict(labels)
    return all(present.get(key) == value for key, value in match.items())


async def scrape(session: aiohttp.ClientSession, url: str) -> Samples | None:
    """The target's samples, or None when it is down, slow or not Prometheus text."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_S), session.get(url) as reply:
            if reply.status != 200:
                return None
            text = await reply.text()
    except (aiohttp.ClientError, OSError, TimeoutError, UnicodeDecodeError):
        return None
    return parse(text)


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Estimated `q`-quantile of cumulative `buckets`, interpolated linearly within the
    bucket it falls in (as PromQL's `histogram_quantile`); None without observations. The
    open top bucket answers with the highest finite bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound
