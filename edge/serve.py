"""Run the edge under granian: N worker processes, uvloop, the ASGI interface with lifespan."""

from __future__ import annotations

import logging

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from edge.metrics import clear_snapshots
from tracer.context import load_context
from tracer.settings import Settings

logger = logging.getLogger("tracer.edge.serve")

# EX_SOFTWARE, as the command line uses for a crash (1 means a configuration error).
EXIT_CRASHED = 70


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
        # A worker that dies is replaced while the others keep serving (granian stops
        # everything only on a crash loop: the same worker dying again within seconds).
        respawn_failed_workers=True,
    )
    try:
        server.serve()
    except SystemExit as exc:
        # Granian exits 1 when a worker crash-loops. Configuration errors were ruled out
        # above, so say "crashed" (restart me), not "configuration error" (don't).
        if exc.code not in (0, None):
            logger.error("edge: granian stopped with exit code %s; a worker kept failing", exc.code)
            raise SystemExit(EXIT_CRASHED) from None
        raise
