"""Reading the one request body the edge reads (the unsubscribe POST), under a deadline.

A client that announces a body and then sends it a byte at a time would otherwise hold a
worker's connection for as long as it likes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

# A one-click POST or the page's form is a few dozen bytes; a few seconds is plenty.
BODY_DEADLINE_S = 5.0

Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodyTimeout(Exception):
    """The body did not arrive within the deadline (the answer is 408)."""


async def read_form(
    receive: Receive, limit: int, deadline_s: float = BODY_DEADLINE_S
) -> bytes | None:
    """The request body; None when it is over `limit` bytes; `BodyTimeout` when it is not
    all there after `deadline_s`."""
    try:
        return await asyncio.wait_for(_read_body(receive, limit), deadline_s)
    except TimeoutError:
        raise BodyTimeout from None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
