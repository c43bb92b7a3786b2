"""Run the edge under granian: N worker processes, uvloop, the ASGI interface with lifespan."""

from __future__ import annotations

import logging

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from edge.metrics import clear_snapshots
from tracer.context import load_context
from tracer.settings import Settings

logger = logging.getLogger("tracer.edge.serve")


def serve(
    settings: Settings, workers: int, host: str | None = None, port: int | None = None
) -> None:
    """Validate the configuration once in the parent (so errors are reported once, with
    exit code 1), then let granian spawn the workers, each building its own `Edge`."""
    context = load_context(settings)
    clear_snapshots(settings.metrics_dir)
    address = host or settings.edge_host
    port = port or settings.edge_port
    logger.info(
        "edge: %d brand(s), %d worker(s), listening on http://%s:%d",
        len(context.brands),
        workers,
        address,
        port,
    )
    server = Granian(
        "edge.app:create_app",
        factory=True,
        address=address,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        backlog=4096,
        log_access=False,
        # Workers get this long to answer open connections and flush their buffers.
        workers_kill_timeout=30,
        # A worker that dies is replaced; the new one replays the dead one's journal.
        respawn_failed_workers=True,
    )
    server.serve()
