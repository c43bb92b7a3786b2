"""Per-endpoint batching: up to `batch_max_events` jobs in one request, sent when the batch
is full or `batch_max_wait_ms` after its first job arrived."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dispatcher.endpoint import Claim


class BatchBuffer:
    def __init__(
        self, max_events: int, max_wait_s: float, send: Callable[[list[Claim]], None]
    ) -> None:
        self.max_events = max_events
        self.max_wait_s = max_wait_s
        self._send = send
        self._pending: list[Claim] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, claim: Claim) -> None:
        self._pending.append(claim)
        if len(self._pending) >= self.max_events:
            self.flush()
        elif self._timer is None:
            # With no wait, still let the rest of the current fetch join the batch.
            self._timer = asyncio.get_running_loop().call_later(self.max_wait_s, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            self._send(batch)
