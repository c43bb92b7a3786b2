"""Exponential back-off with full jitter, waiting on an event so shutdown interrupts it."""

from __future__ import annotations

import asyncio
import contextlib
import random


class Backoff:
    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay_s(self) -> float:
        self.failures += 1
        ceiling = min(self.max_s, self.initial_s * 2 ** min(self.failures - 1, 30))
        # Full jitter: batchers that failed together do not retry together.
        return random.uniform(ceiling / 2, ceiling)

    async def wait(self, interrupt: asyncio.Event) -> None:
        """Sleep for the next delay, or less if `interrupt` is set meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(interrupt.wait(), self.next_delay_s())
