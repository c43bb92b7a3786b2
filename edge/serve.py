"""Run the edge under granian: N worker processes, uvloop, the ASGI interface with lifespan."""

from __future__ import annotations

import errno
import logging
import os
import socket

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from edge.metrics import clear_snapshots
from tracer.context import load_context
from tracer.errors import ConfigurationError
from tracer.settings import Settings

logger = logging.getLogger(__name__)

# EX_SOFTWARE, as the command line uses for a crash (1 means a configuration error).
EXIT_CRASHED = 70


def serve(
    settings: Settings, workers: int, host: str | None = None, port: int | None = None
) -> None:
    """Validate the configuration once in the parent (so errors are reported once, with
    exit code 1), then let granian spawn the workers, each building its own `Edge`."""
    context = load_context(settings)
    clear_snapshots(settings.metrics_dir)
    _claim_metrics_port(settings)
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
        # A worker that dies is replaced while the others keep serving, and the new one
        # replays the dead one's journal (granian stops everything only on a crash loop:
        # the same worker dying again within seconds).
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


def _claim_metrics_port(settings: Settings) -> None:
    """Make sure the workers' metrics port is this edge's alone. The workers share it
    with SO_REUSEPORT, which would just as well let them share it with another Tracer's
    edge on the same host (each scrape then answered by either). So the parent checks
    first: a port set explicitly (TRACER_EDGE_METRICS_PORT) that another process holds
    is a start-up error; the default port, when held, gives way to a free one. The
    workers read the port from the environment they inherit."""
    host, port = settings.edge_metrics_host, settings.edge_metrics_port
    if port == 0:
        return
    explicit = bool(os.environ.get("TRACER_EDGE_METRICS_PORT"))
    if _bindable(host, port):
        return
    if explicit:
        raise ConfigurationError(
            f"TRACER_EDGE_METRICS_PORT: port {port} on {host} is already in use by another "
            "process (choose another port, or 0 to serve no /metrics)"
        )
    with socket.socket(_family(host)) as sock:
        sock.bind((host, 0))
        free = sock.getsockname()[1]
    logger.warning(
        "edge metrics port %d on %s is taken by another process; serving on %d", port, host, free
    )
    os.environ["TRACER_EDGE_METRICS_PORT"] = str(free)


def _bindable(host: str, port: int) -> bool:
    with socket.socket(_family(host)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise ConfigurationError(
                f"TRACER_EDGE_METRICS_HOST: cannot listen on {host}:{port} ({exc.strerror})"
            ) from None
    return True


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
