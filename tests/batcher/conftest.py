"""Fixtures of the batcher suite: batchers on the session's Redis (the store backends,
sqlite and mongo, come from `tests/fixtures/stores.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from batcher.config import BatcherConfig
from batcher.main import redis_client
from batcher.worker import Batcher
from tests.batcher.helpers import FAST, SHARDS
from tracer.brands import Brands
from tracer.store import EventStore


@pytest.fixture
async def make_batcher(
    redis_url: str, example_brands: Brands
) -> AsyncIterator[Callable[..., Batcher]]:
    """Batchers on the session's Redis, each with its own client (closed at the end)."""
    clients = []

    def factory(
        event_store: EventStore,
        config: BatcherConfig = FAST,
        url: str = redis_url,
        **kwargs: object,
    ) -> Batcher:
        client = redis_client(url, timeout_s=2.0)
        clients.append(client)
        return Batcher(client, event_store, example_brands, shards=SHARDS, config=config, **kwargs)

    yield factory
    for client in clients:
        await client.aclose()
