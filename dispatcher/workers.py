"""A bounded pool of worker tasks draining a local queue: an endpoint's concurrency limit.

Each item is handled by one of at most `limit` tasks. A task lives while there is work:
it takes the next item as soon as it is done with one, and ends when the queue is empty.
Under load that is one task per connection for the whole run instead of one task (and a
semaphore wait) per job; when idle, no task is left behind.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class WorkerPool(Generic[Item]):
    def __init__(self, limit: int, handle: Callable[[Item], Awaitable[None]], name: str) -> None:
        """`handle(item)` must not raise (a failure is an outcome to settle, not an
        exception); cancellation at shutdown leaves the items not yet handled queued."""
        self.limit = limit
        self.handle = handle
        self.name = name
        self._queue: deque[Item] = deque()
        # Counted down by the worker itself as it ends, not by a done callback: a submit
        # running before that callback must not count a worker that takes nothing more.
        self._active = 0
        self._workers: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> None:
        self._queue.append(item)
        if self._active < self.limit:
            self._active += 1
            worker = asyncio.create_task(self._work(), name=self.name)
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)

    @property
    def waiting(self) -> int:
        """Items queued and not yet taken by a worker."""
        return len(self._queue)

    async def _work(self) -> None:
        queue, handle = self._queue, self.handle
        try:
            while queue:
                await handle(queue.popleft())
        finally:
            self._active -= 1

    async def cancel(self, timeout_s: float) -> None:
        """Cancel the workers (what they were handling is abandoned, the queued items
        are left as they are) and wait up to `timeout_s` for them to unwind."""
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.wait(workers, timeout=timeout_s)
