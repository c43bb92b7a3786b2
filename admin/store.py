"""The event store as the API reads it: opened on first need, reopened after a failure.

The API must start (and keep building links) while the store is down, so the store is not
opened once at start-up for good: `StoreHandle.get()` opens it when needed and raises
`StoreUnavailable` (503) while it cannot be reached. After a failed attempt, requests
within `retry_interval_s` fail at once instead of each waiting out a connection timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tracer.brands import Brands
from tracer.settings import Settings
from tracer.store import EventStore, StoreUnavailable, create_store

logger = logging.getLogger(__name__)


class StoreHandle:
    def __init__(self, settings: Settings, brands: Brands, retry_interval_s: float = 1.0) -> None:
        self.settings = settings
        self.brands = brands
        self.retry_interval_s = retry_interval_s
        self._store: EventStore | None = None
        self._lock = asyncio.Lock()
        self._failure: tuple[float, str] | None = None

    async def get(self) -> EventStore:
        if self._store is not None:
            return self._store
        async with self._lock:
            if self._store is None:
                self._store = await self._open()
        return self._store

    async def _open(self) -> EventStore:
        if self._failure is not None:
            failed_at, reason = self._failure
            if time.monotonic() - failed_at < self.retry_interval_s:
                raise StoreUnavailable(reason)
        store = create_store(self.settings, self.brands)
        try:
            await store.open()
        except StoreUnavailable as exc:
            self._failure = (time.monotonic(), str(exc))
            await _close_quietly(store)
            raise
        self._failure = None
        logger.info("Event store opened (%s).", store.name)
        return store

    async def ping(self) -> None:
        await (await self.get()).ping()

    async def close(self) -> None:
        async with self._lock:
            store, self._store = self._store, None
        if store is not None:
            await store.close()


async def _close_quietly(store: EventStore) -> None:
    try:
        await store.close()
    except StoreUnavailable as exc:
        logger.debug("Closing a store that failed to open: %s", exc)
