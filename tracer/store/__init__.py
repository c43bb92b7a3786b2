"""The event store: where events become *recorded*.

`open_store(settings)` picks the backend: MongoDB when `MONGODB_URL` is set, otherwise
the embedded SQLite file under the data directory. Both implement `EventStore`.
"""

from __future__ import annotations

from tracer.brands import Brands
from tracer.settings import Settings
from tracer.store.base import (
    BrandStats,
    CompactionReport,
    EventStore,
    Rejected,
    RollupRow,
    StoreUnavailable,
    Suppression,
    TypeStats,
    WriteResult,
)

__all__ = [
    "BrandStats",
    "CompactionReport",
    "EventStore",
    "Rejected",
    "RollupRow",
    "StoreUnavailable",
    "Suppression",
    "TypeStats",
    "WriteResult",
    "create_store",
    "open_store",
]


def create_store(settings: Settings, brands: Brands | None = None) -> EventStore:
    """The configured store, not yet opened (use `async with` or `await store.open()`)."""
    if settings.mongodb_url:
        # Imported here so that SQLite deployments never load pymongo.
        from tracer.store.mongo import MongoStore

        return MongoStore(settings.mongodb_url, brands)
    from tracer.store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path, brands)


async def open_store(settings: Settings, brands: Brands | None = None) -> EventStore:
    """The configured store, opened (schema and indexes created); close it when done."""
    store = create_store(settings, brands)
    await store.open()
    return store
