"""`tracer edge [--workers N]`: run the public edge."""

from __future__ import annotations

import argparse

from tracer.logs import configure_logging
from tracer.observability import init_sentry
from tracer.settings import load_settings


def worker_count(text: str) -> int:
    """`--workers N` of `tracer edge` and `tracer up` (TRACER_EDGE_WORKERS is checked with
    the other settings)."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return count


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edge", help="run the edge (clicks, opens, unsubscribes)")
    parser.add_argument(
        "--workers",
        type=worker_count,
        help="worker processes (default: TRACER_EDGE_WORKERS or 1)",
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
    serve(settings, workers, args.host, args.port)
    return 0
