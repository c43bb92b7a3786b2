"""`tracer admin [--host H] [--port P]`: the admin API (links, messages, conversions,
stats, suppressions) on TRACER_ADMIN_PORT, never the public edge's port."""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvloop

from tracer.context import load_context
from tracer.errors import ConfigurationError
from tracer.logs import configure_logging
from tracer.observability import init_sentry
from tracer.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "admin", help="serve the admin API (tracked links, messages, conversions, stats)"
    )
    parser.add_argument("--host", help="address to listen on (default TRACER_ADMIN_HOST)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default TRACER_ADMIN_PORT, 8081)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    host = args.host or settings.admin_host
    port = settings.admin_port if args.port is None else args.port
    if not 0 < port < 65536:
        raise ConfigurationError(f"--port: {port} is not a TCP port")
    if port == settings.edge_port:
        raise ConfigurationError(
            f"--port: {port} is the edge's port; the admin API is never served on the public edge"
        )
    configure_logging(settings.log_level, role="admin")
    init_sentry("admin", settings)
    context = load_context(settings)
    # Imported here: `tracer up` only checks that this module exists.
    from admin.serve import serve

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(context, host, port))
    except OSError as exc:
        print(f"error: cannot serve the admin API on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
