"""The benchmarks' own HTTP/1.1 client: requests built by the caller, answers read for
their status and head only."""

from __future__ import annotations

import asyncio


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a request and reads back the status
    and headers of its answer. Much lighter than a general client: on a 2-core machine the
    load generator's CPU is taken from the system under test."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        length_at = head.find(b"\r\ncontent-length:")
        length = 0
        if length_at >= 0:
            line_end = head.find(b"\r\n", length_at + 2)
            length = int(head[length_at + 17 : line_end if line_end > 0 else None])
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result((int(head[9:12]), head))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        self.transport = None

    def send(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Send one request; the future gets (status, lower-cased head) of its answer."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter

    async def request(self, raw: bytes, timeout_s: float = 30.0) -> tuple[int, bytes]:
        return await asyncio.wait_for(self.send(raw), timeout_s)
