"""The event store: where events become *recorded*.

`open_store(settings)` picks the backend: MongoDB when `MONGODB_URL` is set, otherwise
the embedded SQLite file under the data directory. Both implement `EventStore`.
"""

from __future__ import annotations

from pathlib import Path

from tracer.brands import Brands
from tracer.errors import TracerError
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
    "StoreMissing",
    "StoreUnavailable",
    "Suppression",
    "TypeStats",
    "WriteResult",
    "create_store",
    "open_store",
]


class StoreMissing(TracerError):
    """A read-only command found no store where it looked: it says so instead of making
    an empty one and reporting zeros."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"no event store in {path.parent.resolve()} ({path.name} does not exist). Run "
            "this where `tracer up` runs, or set TRACER_DATA_DIR to the data dir of the "
            "instance (MONGODB_URL to its MongoDB)"
        )


def create_store(settings: Settings, brands: Brands | None = None) -> EventStore:
    """The configured store, not yet opened (use `async with` or `await store.open()`)."""
    if settings.mongodb_url:
        # Imported here so that SQLite deployments never load pymongo.
        from tracer.store.mongo import MongoStore

        return MongoStore(settings.mongodb_url, brands)
    from tracer.store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path, brands)


async def open_store(
    settings: Settings, brands: Brands | None = None, *, create: bool = True
) -> EventStore:
    """The configured store, opened (schema and indexes created); close it when done.
    With `create` false (read-only commands), a SQLite store that does not exist yet is
    not made up: `StoreMissing` names where it was looked for."""
    if not create and not settings.mongodb_url and not settings.sqlite_path.exists():
        raise StoreMissing(settings.sqlite_path)
    store = create_store(settings, brands)
    await store.open()
    return store
