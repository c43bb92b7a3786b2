"""The small HTTP server of the batcher and dispatcher roles: `/metrics` (Prometheus text)
and `/healthz`.

Which port: a port set explicitly (flag or environment) must be the one served, and one
already taken is a start-up error; the role's default port falls back to a free one when
another process holds it (a second Tracer on the same host); `auto` asks for a free port
from the start (what `tracer up` uses), and 0 serves nothing. The dashboard finds the
port a role really bound through `tracer.instance.register_role`, never by guessing."""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from tracer.errors import ConfigurationError
from tracer.prometheus import CONTENT_TYPE

logger = logging.getLogger(__name__)

# Metrics are for the local scraper unless an operator says otherwise.
DEFAULT_METRICS_HOST = "127.0.0.1"
# The value of a metrics port setting that asks for any free port ("auto").
ANY_FREE_PORT = -1


def parse_metrics_port(raw: str, name: str) -> int:
    """`auto` -> `ANY_FREE_PORT`, `0` (off) or a TCP port; a `ConfigurationError` naming
    `name` otherwise."""
    text = raw.strip().lower()
    if text == "auto":
        return ANY_FREE_PORT
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise ConfigurationError(f"{name}: {raw!r} is not a TCP port, 0 (off) or auto")
    return int(text)


def scrape_url(host: str, port: int) -> str:
    """The URL to scrape a server listening on `host`:`port` at."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/metrics" if ":" in host else f"http://{host}:{port}/metrics"


class MetricsServer:
    def __init__(
        self,
        host: str,
        port: int,
        render: Callable[[], Awaitable[str]],
        *,
        required: bool = True,
        setting: str = "metrics port",
    ) -> None:
        """`port`: a TCP port or `ANY_FREE_PORT`. `required`: the port was set explicitly,
        so another process holding it stops the start (`ConfigurationError` naming
        `setting`); otherwise a free port is taken instead."""
        self.host = host
        self.port = port
        self.required = required
        self.setting = setting
        self._render = render
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return scrape_url(self.host, self.port)

    async def start(self) -> int:
        """Serve; return the port bound."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await self._bind(runner)
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        logger.info("Serving metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    async def _bind(self, runner: web.AppRunner) -> None:
        wanted = 0 if self.port == ANY_FREE_PORT else self.port
        try:
            await web.TCPSite(runner, self.host, wanted).start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or wanted == 0:
                raise
            if self.required:
                raise ConfigurationError(
                    f"{self.setting}: port {wanted} on {self.host} is already in use by "
                    "another process (choose another port, or `auto` for any free one)"
                ) from None
            logger.warning(
                "metrics port %d on %s is taken by another process; serving on a free port",
                wanted,
                self.host,
            )
            await web.TCPSite(runner, self.host, 0).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = (await self._render()).encode()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")
