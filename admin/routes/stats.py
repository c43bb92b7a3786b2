"""`GET /v1/stats`: a brand's counts per event type, from the store's rollups; with `by`,
also its hits per email client, OS, device class or country (`tracer.store.dimensions`).

Without filters this is `EventStore.stats` (what `tracer stats` prints). With `campaign`,
`job_source`, `since` or `until`, the rollup rows (brand, campaign, job source, UTC day,
type) are summed here. The suppression count is always the brand's whole.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from msgspec import UNSET, UnsetType

from admin.auth import authorize
from admin.errors import ApiError, json_response
from admin.schemas import (
    DimensionCounts,
    EventTypeCounts,
    HitCounts,
    StatsQuery,
    StatsResponse,
    TypeCounts,
)
from admin.services import SERVICES
from admin.validation import decode_query
from tracer.events import EVENT_TYPES
from tracer.store import BrandStats, EventStore, RollupRow, TypeStats
from tracer.store.dimensions import DimensionStats, DimensionValue

T = TypeVar("T")


async def get_stats(request: web.Request) -> web.Response:
    """Counts of the key's brand, narrowed by the query's filters."""
    query = decode_query(request.query, StatsQuery)
    brand = authorize(request, query.brand)
    if query.since is not UNSET and query.until is not UNSET and query.since > query.until:
        raise ApiError(422, "until is before since", field="until")
    services = request.app[SERVICES]
    store = await services.store.get()
    stats = await store.stats(brand)
    if _filtered(query):
        stats = await _filtered_stats(store, brand, query, stats.suppressions)
    breakdown = None
    if query.by is not UNSET:
        breakdown = _breakdown(
            await store.dimension_stats(
                brand,
                query.by,
                campaign=_or_none(query.campaign),
                job_source=_or_none(query.job_source),
                day_from=query.since.isoformat() if query.since is not UNSET else None,
                day_to=query.until.isoformat() if query.until is not UNSET else None,
            )
        )
    return json_response(
        StatsResponse(
            brand=brand,
            campaign=_or_none(query.campaign),
            job_source=_or_none(query.job_source),
            since=_or_none(query.since),
            until=_or_none(query.until),
            currency=services.brands.by_id[brand].currency,
            types=EventTypeCounts(**{name: _counts(stats.of(name)) for name in EVENT_TYPES}),
            mpp_adjusted_opens=stats.mpp_adjusted_opens,
            revenue=stats.revenue,
            conversion_value=round(stats.of("conversion").value, 6),
            suppressions=stats.suppressions,
            by=_or_none(query.by),
            breakdown=breakdown,
        )
    )


def _filtered(query: StatsQuery) -> bool:
    return any(
        value is not UNSET for value in (query.campaign, query.job_source, query.since, query.until)
    )


async def _filtered_stats(
    store: EventStore, brand: str, query: StatsQuery, suppressions: int
) -> BrandStats:
    rows = await store.rollups(
        brand,
        query.since.isoformat() if query.since is not UNSET else None,
        query.until.isoformat() if query.until is not UNSET else None,
    )
    types: dict[str, TypeStats] = {}
    for row in rows:
        if _matches(row, query):
            types.setdefault(row.type, TypeStats()).add(row)
    return BrandStats(brand=brand, types=types, suppressions=suppressions)


def _matches(row: RollupRow, query: StatsQuery) -> bool:
    return (query.campaign is UNSET or row.campaign == query.campaign) and (
        query.job_source is UNSET or row.job_source == query.job_source
    )


def _breakdown(stats: DimensionStats) -> list[DimensionCounts]:
    def hits(entry: DimensionValue, kind: str) -> HitCounts:
        counts = entry.of(kind)
        return HitCounts(all=counts.all, human=counts.human)

    return [
        DimensionCounts(
            value=entry.value,
            open=hits(entry, "open"),
            click=hits(entry, "click"),
            unsubscribe_view=hits(entry, "unsubscribe_view"),
            unsubscribe=hits(entry, "unsubscribe"),
        )
        for entry in stats.values
    ]


def _counts(stats: TypeStats) -> TypeCounts:
    return TypeCounts(
        all=stats.all,
        human=stats.human,
        unique_all=stats.unique_all,
        unique_human=stats.unique_human,
        unique_mpp=stats.unique_mpp,
        revenue=round(stats.revenue, 6),
        value=round(stats.value, 6),
    )


def _or_none(value: T | UnsetType) -> T | None:
    return None if value is UNSET else value
