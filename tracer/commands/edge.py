"""`tracer edge [--workers N]`: run the public edge."""

from __future__ import annotations

import argparse
import os

from tracer.logs import configure_logging
from tracer.observability import init_sentry
from tracer.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edge", help="run the edge (clicks, opens, unsubscribes)")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("TRACER_EDGE_WORKERS", "1")),
        help="worker processes (default: 1, or TRACER_EDGE_WORKERS)",
    )
    parser.add_argument("--host", help="address to bind (default: TRACER_EDGE_HOST or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default: TRACER_EDGE_PORT or 8080)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.serve import serve

    settings = load_settings()
    configure_logging(settings.log_level, role="edge")
    init_sentry("edge", settings)  # this process; each granian worker in create_app()
    if args.workers < 1:
        print("error: --workers must be >= 1")
        return 2
    serve(settings, args.workers, args.host, args.port)
    return 0
