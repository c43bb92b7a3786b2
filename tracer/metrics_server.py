"""The small HTTP server of the batcher and dispatcher roles: `/metrics` (Prometheus text)
and `/healthz`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger("tracer.metrics_server")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Metrics are for the local scraper unless an operator says otherwise.
DEFAULT_METRICS_HOST = "127.0.0.1"


class MetricsServer:
    def __init__(self, host: str, port: int, render: Callable[[], Awaitable[str]]) -> None:
        self.host = host
        self.port = port
        self._render = render
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Serve; return the port (useful when 0 asked the OS for a free one)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        logger.info("Serving metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = (await self._render()).encode()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")
