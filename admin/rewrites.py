"""Rewriting messages off the event loop, within a time budget, fairly between brands.

Rewriting a large email is CPU work: run on the event loop, one brand's message would hold
up every other brand's requests. Here it runs on a small thread pool; each brand has at
most `PER_BRAND` rewrites in flight, so one brand cannot take every thread; and each
rewrite has `BUDGET_S`, after which the rewriter itself stops (it checks its deadline
between links) and the caller gets a clear 413.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from admin.errors import ApiError
from tracer.links import LinkBuilder
from tracer.rewrite import RewriteTimeout, RewrittenEmail, rewrite_email

logger = logging.getLogger(__name__)

THREADS = 4
PER_BRAND = 2
BUDGET_S = 2.0
_RETRY_SOON = {"Retry-After": "1"}


class RewritePool:
    def __init__(
        self, threads: int = THREADS, per_brand: int = PER_BRAND, budget_s: float = BUDGET_S
    ) -> None:
        self.budget_s = budget_s
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="rewrite")
        self._slots: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_brand)
        )

    async def rewrite(
        self, builder: LinkBuilder, brand: str, *args: Any, **kwargs: Any
    ) -> RewrittenEmail:
        """`rewrite_email(builder, brand, *args, **kwargs)` on the pool: 429 when the
        brand's own rewrites keep every slot of it busy for a whole budget, 413 when this
        one takes longer than the budget."""
        slots = self._slots[brand]
        try:
            await asyncio.wait_for(slots.acquire(), self.budget_s)
        except TimeoutError:
            raise ApiError(
                429,
                f"brand {brand!r} has {PER_BRAND} messages being rewritten already; retry",
                headers=_RETRY_SOON,
            ) from None
        try:
            deadline = time.monotonic() + self.budget_s
            job = partial(rewrite_email, builder, brand, *args, deadline=deadline, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._pool, job)
        except RewriteTimeout:
            logger.warning(
                "rewriting a message of %s took over %.1fs: refused", brand, self.budget_s
            )
            raise ApiError(
                413,
                f"the message took longer than {self.budget_s:g}s to rewrite; "
                "send a smaller one, or fewer links",
                field="html",
            ) from None
        finally:
            slots.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
