"""`tracer batcher`: move events from the Redis queue into the store until stopped."""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvloop

from batcher.config import DEFAULT_METRICS_PORT, BatcherConfig, load_batcher_config
from batcher.main import run_batcher
from tracer.brands import load_brands
from tracer.errors import ConfigurationError
from tracer.logs import configure_logging
from tracer.metrics_server import DEFAULT_METRICS_HOST, parse_metrics_port
from tracer.observability import init_sentry
from tracer.redis_cluster import REDIS_ERRORS
from tracer.runtime import tune_garbage_collector
from tracer.settings import load_settings, mask_url

_DEFAULTS = BatcherConfig()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batcher", help="store queued events (exactly once), roll them up, queue webhooks"
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="drain mode: exit once every shard and every processing list is empty",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=_DEFAULTS.batch_max_events,
        metavar="N",
        help=f"events per bulk write (default {_DEFAULTS.batch_max_events})",
    )
    parser.add_argument(
        "--lease-ttl",
        type=float,
        default=None,
        metavar="SECONDS",
        help="shard lease and heartbeat TTL: a dead batcher's work is taken over after "
        f"about this long (default: TRACER_BATCHER_LEASE_TTL_S or {_DEFAULTS.lease_ttl_s:g})",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=_DEFAULTS.shutdown_grace_period_s,
        metavar="SECONDS",
        help="at shutdown, how long the batch in hand may wait for a failing store "
        f"(default {_DEFAULTS.shutdown_grace_period_s:g})",
    )
    parser.add_argument(
        "--no-periodic-jobs",
        action="store_true",
        help="do not run retention, rollup compaction and dead-list housekeeping here",
    )
    parser.add_argument(
        "--consumer", default=None, help="this batcher's name in Redis (default host-pid-random)"
    )
    parser.add_argument(
        "--metrics-port",
        type=_metrics_port,
        default=None,
        metavar="PORT|auto",
        help="serve /metrics and /healthz on this port, `auto` for any free one, 0 for none "
        f"(default: TRACER_BATCHER_METRICS_PORT, else {DEFAULT_METRICS_PORT}, or a free port "
        "when another process holds it)",
    )
    parser.add_argument(
        "--metrics-host",
        default=None,
        help="address of /metrics (default: TRACER_BATCHER_METRICS_HOST or "
        f"{DEFAULT_METRICS_HOST})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    brands = load_brands(settings.config_path)
    if not settings.redis_url:
        raise ConfigurationError(
            "REDIS_URL: not set; the batcher reads the event queue from Redis "
            "(`tracer up` starts a private redis-server and sets it)"
        )
    config = load_batcher_config(
        batch_max_events=max(1, args.batch_size),
        lease_ttl_s=args.lease_ttl,
        shutdown_grace_period_s=args.grace,
        periodic_jobs=not args.no_periodic_jobs,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
    )
    configure_logging(settings.log_level, role="batcher")
    init_sentry("batcher", settings)
    tune_garbage_collector()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_batcher(settings, brands, config, burst=args.burst,
                                   consumer=args.consumer))  # fmt: skip
    except (*REDIS_ERRORS, OSError) as exc:
        print(f"error: Redis at {mask_url(settings.redis_url or '')}: {exc}", file=sys.stderr)
        return 1
    return 0


def _metrics_port(text: str) -> int:
    try:
        return parse_metrics_port(text, "--metrics-port")
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
