"""The store backends under test: starting the mongoeco stand-in server, naming and dropping
a test's MongoDB database. The fixtures built on them (`store_kind`, `store_factory`,
`store`, `mongo_base_url`) are in `tests/fixtures/stores.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pymongo
import pytest

from bench.mongoeco import MongoEcoError, MongoEcoServer
from tracer.store import EventStore

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


def with_database(base_url: str, database: str, **options: object) -> str:
    head, _, query = base_url.partition("?")
    head = head.rstrip("/")
    if head.count("/") > 2:  # the URL names a database: replace it
        head = head.rsplit("/", 1)[0]
    extra = "&".join(f"{key}={value}" for key, value in options.items())
    query = "&".join(part for part in (query, extra) if part)
    return f"{head}/{database}" + (f"?{query}" if query else "")


def drop_database(base_url: str, database: str) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(base_url)
    try:
        client.drop_database(database)
    finally:
        client.close()
