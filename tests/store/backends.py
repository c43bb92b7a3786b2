"""Store fixtures shared by the store and batcher suites: one test class runs against
each backend (`store_kind` is "sqlite" or "mongo").

MongoDB means a real server over the real pymongo driver: the one in the original
environment's MONGODB_URL when set, otherwise a mongoeco wire server started for the
session (a faithful stand-in, not mongod; see bench/mongoeco.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pymongo
import pytest

from bench.mongoeco import MongoEcoError, MongoEcoServer
from tests.conftest import ORIGINAL_ENVIRONMENT
from tracer.brands import Brands
from tracer.store import EventStore
from tracer.store.mongo import MongoStore
from tracer.store.sqlite import SQLiteStore

StoreFactory = Callable[..., Awaitable[EventStore]]
# Tests wait this long for an unreachable server before calling it down.
# A missing server fails a test within seconds, not the driver's 30 s. Connecting is left
# 5 s: the driver's heartbeats connect with that timeout too, and mongoeco on a loaded
# machine can take over a second to accept, which a shorter one turns into "operation
# cancelled" in the middle of a test.
FAST_FAILURE = {"serverSelectionTimeoutMS": 3000, "connectTimeoutMS": 5000}


def mongoeco_server(data_path: Path | None = None) -> MongoEcoServer:
    try:
        return MongoEcoServer(data_path).start()
    except MongoEcoError as exc:
        pytest.skip(f"no MongoDB to test against: {exc}")


@pytest.fixture(scope="session")
def mongo_base_url() -> Iterator[str]:
    """`mongodb://host:port` of the session's MongoDB (no database, no options)."""
    real = ORIGINAL_ENVIRONMENT.get("MONGODB_URL")
    if real:
        yield real
        return
    server = mongoeco_server()
    try:
        yield f"mongodb://127.0.0.1:{server.port}/?directConnection=true"
    finally:
        server.stop()


def with_database(base_url: str, database: str, **options: object) -> str:
    head, _, query = base_url.partition("?")
    head = head.rstrip("/")
    if head.count("/") > 2:  # the URL names a database: replace it
        head = head.rsplit("/", 1)[0]
    extra = "&".join(f"{key}={value}" for key, value in options.items())
    query = "&".join(part for part in (query, extra) if part)
    return f"{head}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(params=["sqlite", "mongo"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def store_factory(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Opens stores of the test's backend, all on the same data (one SQLite file, one
    fresh Mongo database), and closes them (and drops the database) at the end."""
    opened: list[EventStore] = []
    database = f"tracer_test_{uuid.uuid4().hex[:12]}"
    base_url = request.getfixturevalue("mongo_base_url") if store_kind == "mongo" else ""

    async def factory(brands: Brands | None = None, **options: object) -> EventStore:
        if store_kind == "sqlite":
            store: EventStore = SQLiteStore(tmp_path / "store.sqlite3", brands, **options)
        else:
            store = MongoStore(with_database(base_url, database, **FAST_FAILURE), brands)
        await store.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()
    if store_kind == "mongo":
        drop_database(base_url, database)


def drop_database(base_url: str, database: str) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(base_url)
    try:
        client.drop_database(database)
    finally:
        client.close()


@pytest.fixture
async def store(store_factory: StoreFactory, example_brands: Brands) -> EventStore:
    return await store_factory(example_brands)
