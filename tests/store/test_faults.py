"""The store under faults: locked, and MongoDB writes cut short. (MongoDB stopped and
restarted is shown end to end in tests/batcher/test_faults.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.store.backends import with_database
from tests.store.events import make_event
from tracer.brands import Brands
from tracer.store import StoreUnavailable
from tracer.store.mongo import MongoStore
from tracer.store.mongo_documents import event_document
from tracer.store.sqlite import SQLiteStore


async def test_sqlite_locked_by_another_connection_is_unavailable_until_released(
    tmp_path: Path, example_brands: Brands
) -> None:
    path = tmp_path / "locked.sqlite3"
    store = SQLiteStore(path, example_brands, busy_timeout_s=0.05)
    await store.open()
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.write([make_event("open")])
        locker.execute("ROLLBACK")

        result = await store.write([make_event("open")])
        assert result.inserted == 1
    finally:
        locker.close()
        await store.close()


class TestMongoWriteCutShort:
    """A batcher killed between the steps of a MongoDB write: the batch written again
    (by the batcher that adopts it) completes the counts without doubling any."""

    @pytest.fixture
    async def mongo(self, mongo_base_url: str, example_brands: Brands):
        store = MongoStore(with_database(mongo_base_url, "tracer_cut_short"), example_brands)
        await store.open()
        await store._events.database.client.drop_database("tracer_cut_short")
        yield store
        await store._events.database.client.drop_database("tracer_cut_short")
        await store.close()

    def batch(self):
        return [
            make_event("open", message_id="a"),
            make_event("open", message_id="a"),
            make_event("click", message_id="a", job_source="indeed"),
            make_event("unsubscribe", recipient="hash-a"),
        ]

    async def assert_counted_once(self, store: MongoStore) -> None:
        stats = await store.stats("northjobs")
        assert (stats.of("open").all, stats.of("open").unique_all) == (2, 1)
        assert (stats.of("click").all, stats.revenue) == (1, 0.38)
        assert stats.suppressions == 1

    async def test_died_after_inserting_the_events(self, mongo: MongoStore) -> None:
        events = self.batch()
        await mongo._events.insert_many([event_document(e, mongo._policy) for e in events])

        result = await mongo.write(events)

        assert (result.inserted, result.duplicates) == (0, 4)
        await self.assert_counted_once(mongo)

    async def test_died_after_incrementing_the_rollups(self, mongo: MongoStore) -> None:
        events = self.batch()
        documents = [event_document(e, mongo._policy) for e in events]
        await mongo._events.insert_many(documents)
        firsts = await mongo._mark_uniques(documents)
        await mongo._suppress(documents)
        await mongo._roll_up(documents, firsts)  # ... and never marked them rolled

        await mongo.write(events)
        await mongo.write(events)

        await self.assert_counted_once(mongo)
