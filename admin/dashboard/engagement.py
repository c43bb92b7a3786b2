"""Engagement from the event store: per brand (all time) and per brand x campaign x job
source (the last `window_days`), with human and machine traffic apart, MPP-adjusted opens
and estimated revenue, all from the rollups (`tracer.store`), as `/v1/stats` reads them;
and per brand, its opens by email client and by device class over the same window (the
client rollups).
"""

from __future__ import annotations

import datetime as dt

from admin.dashboard.model import BrandEngagement, Counts, Engagement, Segment, Share
from tracer.brands import Brand, Brands
from tracer.store import BrandStats, EventStore, RollupRow, TypeStats
from tracer.store.dimensions import DimensionStats

WINDOW_DAYS = 30
# The busiest segments are sent; a page with thousands of rows helps nobody.
MAX_SEGMENTS = 200
# Clients shown per brand; the rest are summed as one.
MAX_CLIENTS = 8
OTHER_CLIENTS = "other clients"


async def read_engagement(
    store: EventStore, brands: Brands, now: float, window_days: int = WINDOW_DAYS
) -> Engagement:
    """Raises `StoreUnavailable` when the store cannot be read."""
    first_day = dt.datetime.fromtimestamp(now, dt.UTC).date() - dt.timedelta(window_days - 1)
    engagement = Engagement(read_at=now, window_days=window_days)
    segments: list[Segment] = []
    for brand in brands:
        stats = await store.stats(brand.id)
        row = _brand_row(brand, stats)
        if row.opens.all:
            # Over the window, like the segments: today's readers, and a bounded read.
            since = first_day.isoformat()
            clients = await store.dimension_stats(brand.id, "client", day_from=since)
            row.clients = _shares(clients, MAX_CLIENTS)
            row.devices = _shares(await store.dimension_stats(brand.id, "device", day_from=since))
        engagement.brands.append(row)
        rows = await store.rollups(brand.id, first_day.isoformat(), None)
        segments += _segments(brand.id, rows)
    segments.sort(key=lambda s: (-(s.sent + s.opens.all + s.clicks.all), s.brand, s.campaign))
    engagement.segments = segments[:MAX_SEGMENTS]
    engagement.segments_omitted = max(0, len(segments) - MAX_SEGMENTS)
    return engagement


def _brand_row(brand: Brand, stats: BrandStats) -> BrandEngagement:
    opens = stats.of("open")
    return BrandEngagement(
        brand=brand.id,
        name=brand.name,
        currency=brand.currency,
        sent=stats.of("sent").all,
        opens=_counts(opens),
        unique_opens=Counts(all=opens.unique_all, human=opens.unique_human),
        mpp_opens=opens.unique_mpp,
        mpp_adjusted_opens=stats.mpp_adjusted_opens,
        clicks=_counts(stats.of("click")),
        unsubscribes=stats.of("unsubscribe").all,
        revenue=stats.revenue,
        conversion_value=round(stats.of("conversion").value, 2),
    )


def _shares(stats: DimensionStats, limit: int = 0) -> list[Share]:
    """Opens per value, busiest first; beyond `limit` values, the rest as one."""
    shares = [
        Share(value=entry.value, human=entry.of("open").human,
              machine=entry.of("open").all - entry.of("open").human)
        for entry in stats.values
        if entry.of("open").all
    ]  # fmt: skip
    shares.sort(key=lambda s: (-(s.human + s.machine), s.value))
    if limit and len(shares) > limit:
        rest = shares[limit - 1 :]
        shares = shares[: limit - 1]
        shares.append(Share(value=OTHER_CLIENTS, human=sum(s.human for s in rest),
                            machine=sum(s.machine for s in rest)))  # fmt: skip
    return shares


def _segments(brand: str, rows: list[RollupRow]) -> list[Segment]:
    grouped: dict[tuple[str, str], dict[str, TypeStats]] = {}
    for row in rows:
        types = grouped.setdefault((row.campaign, row.job_source), {})
        types.setdefault(row.type, TypeStats()).add(row)
    segments = []
    for (campaign, job_source), types in grouped.items():
        # The brand-level estimate applied to the segment's own counts.
        stats = BrandStats(brand=brand, types=types)
        segments.append(
            Segment(
                brand=brand,
                campaign=campaign,
                job_source=job_source,
                sent=stats.of("sent").all,
                opens=_counts(stats.of("open")),
                mpp_adjusted_opens=stats.mpp_adjusted_opens,
                clicks=_counts(stats.of("click")),
                unsubscribes=stats.of("unsubscribe").all,
                revenue=stats.revenue,
            )
        )
    return segments


def _counts(stats: TypeStats) -> Counts:
    return Counts(all=stats.all, human=stats.human)
