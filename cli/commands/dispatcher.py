"""`tracer dispatcher`: deliver the webhook queue to the brands' endpoints until stopped."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvloop

from dispatcher.options import DEFAULT_METRICS_PORT, load_options, parse_schedule
from dispatcher.service import Dispatcher
from tracer.brands import load_brands
from tracer.errors import ConfigurationError
from tracer.logs import configure_logging
from tracer.metrics_server import parse_metrics_port
from tracer.observability import init_sentry
from tracer.redis_cluster import REDIS_ERRORS
from tracer.settings import load_settings, mask_url


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dispatcher", help="deliver webhooks: signed, retried, circuit-broken, never lost"
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="drain mode: exit once the queue, the retries and the jobs in flight are empty",
    )
    parser.add_argument(
        "--metrics-port",
        type=_metrics_port,
        default=None,
        metavar="PORT|auto",
        help="serve /metrics and /healthz on this port, `auto` for any free one, 0 for none "
        f"(default: TRACER_DISPATCHER_METRICS_PORT, else {DEFAULT_METRICS_PORT}, or a free "
        "port when another process holds it)",
    )
    parser.add_argument(
        "--metrics-host", default=None, help="address of /metrics (default 127.0.0.1)"
    )
    parser.add_argument(
        "--retry-schedule",
        type=_schedule,
        default=None,
        metavar="S,S,...",
        help="upper bounds of the delays between attempts, in seconds (default "
        "TRACER_WEBHOOK_RETRY_SCHEDULE_S or 5,300,1800,7200,18000,36000,36000)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="at shutdown, how long deliveries in flight may finish (default 10)",
    )
    parser.add_argument(
        "--consumer", default=None, help="this dispatcher's name in Redis (default host-pid-random)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    brands = load_brands(settings.config_path)
    options = load_options(
        burst=args.burst or None,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        retry_schedule_s=args.retry_schedule,
        shutdown_grace_period_s=args.grace,
    )
    if not settings.redis_url:
        raise ConfigurationError(
            "REDIS_URL: not set; the dispatcher reads the webhook queue from Redis "
            "(`tracer up` starts a private redis-server and sets it)"
        )
    configure_logging(settings.log_level, role="dispatcher")
    init_sentry("dispatcher", settings)
    dispatcher = Dispatcher(
        brands,
        settings.redis_url,
        shards=settings.queue_shards,
        options=options,
        consumer=args.consumer,
        cluster=settings.redis_cluster,
        registry_dir=settings.data_dir,
    )
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(dispatcher))
    except (*REDIS_ERRORS, OSError) as exc:
        print(f"error: Redis at {mask_url(settings.redis_url)}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(dispatcher: Dispatcher) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # The handler only sets an event; the dispatcher does the stopping.
        loop.add_signal_handler(signum, dispatcher.request_exit)
    await dispatcher.run()


def _metrics_port(text: str) -> int:
    try:
        return parse_metrics_port(text, "--metrics-port")
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _schedule(text: str) -> tuple[float, ...]:
    try:
        return parse_schedule(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
