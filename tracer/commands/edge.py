"""`tracer edge [--workers N]`: run the public edge."""

from __future__ import annotations

import argparse

from tracer.logs import configure_logging
from tracer.observability import init_sentry
from tracer.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edge", help="run the edge (clicks, opens, unsubscribes)")
    parser.add_argument(
        "--workers", type=int, help="worker processes (default: TRACER_EDGE_WORKERS or 1)"
    )
    parser.add_argument("--host", help="address to bind (default: TRACER_EDGE_HOST or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default: TRACER_EDGE_PORT or 8080)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.serve import serve

    settings = load_settings()
    configure_logging(settings.log_level, role="edge")
    init_sentry("edge", settings)  # this process; each granian worker in create_app()
    workers = settings.edge_workers if args.workers is None else args.workers
    if workers < 1:
        print("error: --workers must be >= 1")
        return 2
    serve(settings, workers, args.host, args.port)
    return 0
