"""Request timeouts without a timer per request.

aiohttp's `ClientTimeout` arms and disarms an event-loop timer (and a timer context) for
every request: a noticeable share of a webhook's CPU. Here every request in flight is
listed by its deadline and one task looks at the lists every `tick_s`, cancelling the
requests whose deadline passed; the cancellation comes out of the request's `async with`
as `TimeoutError`, the way `asyncio.timeout` does it. A request may thus run up to
`tick_s` past its timeout.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

TICK_S = 0.05


class Deadline:
    """`async with deadlines.within(timeout_s):` the block is cancelled once the time is up,
    and then raises `TimeoutError`."""

    __slots__ = ("_book", "expired", "task", "when")

    def __init__(self, book: dict[Deadline, None], when: float) -> None:
        self._book = book
        self.when = when
        self.expired = False
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Deadline:
        self.task = asyncio.current_task()
        self._book[self] = None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        del self._book[self]
        # A cancellation of our own becomes a timeout; anyone else's (shutdown) goes on.
        ours = self.expired and exc_type is asyncio.CancelledError and self.task is not None
        if ours and self.task.uncancel() == 0:
            raise TimeoutError from exc

    def expire(self) -> None:
        if not self.expired and self.task is not None:
            self.expired = True
            self.task.cancel()


class Deadlines:
    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        # One book per timeout value: entries go in as requests start, so each book is
        # in deadline order and a check stops at its first entry still in time.
        self._books: dict[float, dict[Deadline, None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def within(self, timeout_s: float) -> Deadline:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        book = self._books.get(timeout_s)
        if book is None:
            book = self._books[timeout_s] = {}
        return Deadline(book, self._loop.time() + timeout_s)

    def expire_due(self, now: float) -> int:
        """Cancel the requests whose deadline is `now` or earlier; how many."""
        due = []
        for book in self._books.values():
            for deadline in book:
                if deadline.when > now:
                    break
                due.append(deadline)
        for deadline in due:
            deadline.expire()
        return len(due)

    async def run(self) -> None:
        """Check every `tick_s` until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            self.expire_due(loop.time())
