"""The edge's `/metrics`, on a port of its own that only the machine reaches by default.

Prometheus text names every brand and its traffic, so it is not served on the public edge
port. Every worker listens on `TRACER_EDGE_METRICS_HOST:PORT` (127.0.0.1:9103) with
SO_REUSEPORT; the kernel hands each scrape to one of them, and that worker adds its live
counters to every other worker's last snapshot, as before. A tiny HTTP/1.0-style server:
one request per connection, GET or HEAD of `/metrics` or `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tracer.prometheus import CONTENT_TYPE as PROMETHEUS_TEXT

logger = logging.getLogger(__name__)

CONTENT_TYPE = PROMETHEUS_TEXT.encode()
# A scraper sends a few hundred bytes of request head; anything slower or bigger is cut.
READ_TIMEOUT_S = 5.0
MAX_HEAD_BYTES = 8192


class MetricsPort:
    def __init__(self, host: str, port: int, render: Callable[[], bytes]) -> None:
        self.host = host
        self.port = port
        self._render = render
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; a port that cannot be had is logged, never fatal to the edge."""
        if not self.port:
            return
        try:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.port, reuse_port=True, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            logger.warning(
                "edge metrics: cannot listen on %s:%d (%s); /metrics is not served",
                self.host,
                self.port,
                exc,
            )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            writer.write(self._answer(method, path))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a scraper that went away, or something that is no scraper
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _answer(self, method: bytes, path: bytes) -> bytes:
        if method not in (b"GET", b"HEAD"):
            return _response(b"405 Method Not Allowed", b"text/plain", b"method not allowed\n")
        if path == b"/metrics":
            body = self._render()
            return _response(b"200 OK", CONTENT_TYPE, body if method == b"GET" else b"", len(body))
        if path == b"/healthz":
            return _response(b"200 OK", b"text/plain", b"ok\n" if method == b"GET" else b"", 3)
        return _response(b"404 Not Found", b"text/plain", b"not found\n")


def _response(status: bytes, content_type: bytes, body: bytes, length: int | None = None) -> bytes:
    size = str(len(body) if length is None else length).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type + b"\r\ncontent-length: "
        + size + b"\r\ncache-control: no-store\r\nconnection: close\r\n\r\n" + body
    )  # fmt: skip
