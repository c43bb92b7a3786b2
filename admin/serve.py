"""Running the admin API: listen, wait for SIGTERM/SIGINT, then stop in order.

Stopping follows uvicorn's order: close the listening socket, give the requests in flight
up to `SHUTDOWN_GRACE_S` to finish, then close Redis and the store (the application's
clean-up). The signal handler only sets an event.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from admin.app import create_app
from tracer.context import Context

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10.0


async def serve(context: Context, host: str, port: int) -> None:
    app = create_app(context)
    # No aiohttp access log: ours (admin.middleware) leaves out query strings and keys.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        logger.info(
            "Admin API listening on http://%s:%d (%d brands).", host, port, len(context.brands)
        )
        await _stop_requested()
        logger.info("Stopping: no new connections; requests in flight get %.0fs.", SHUTDOWN_GRACE_S)
    finally:
        await runner.cleanup()
    logger.info("Admin API stopped.")


async def _stop_requested() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
