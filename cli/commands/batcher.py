"""`tracer batcher`: move events from the Redis queue into the store until stopped."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import uvloop

from batcher.config import DEFAULT_METRICS_PORT, BatcherConfig
from batcher.main import run_batcher
from tracer.brands import load_brands
from tracer.errors import ConfigurationError
from tracer.logs import configure_logging
from tracer.metrics_server import DEFAULT_METRICS_HOST
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
        type=int,
        default=None,
        help="serve /metrics and /healthz on this port (default: TRACER_BATCHER_METRICS_PORT "
        f"or {DEFAULT_METRICS_PORT}; 0 turns it off)",
    )
    parser.add_argument(
        "--metrics-host",
        default=None,
        help="address of /metrics (default: TRACER_BATCHER_METRICS_HOST or "
        f"{DEFAULT_METRICS_HOST})",
    )
    parser.set_defaults(func=run)


def _metrics_address(args: argparse.Namespace) -> tuple[str, int]:
    """Flags first, then the environment, then the defaults."""
    environ = os.environ
    host = args.metrics_host or environ.get("TRACER_BATCHER_METRICS_HOST") or DEFAULT_METRICS_HOST
    port = args.metrics_port
    if port is None:
        raw = environ.get("TRACER_BATCHER_METRICS_PORT") or str(DEFAULT_METRICS_PORT)
        try:
            port = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"TRACER_BATCHER_METRICS_PORT: {raw!r} is not valid (expected a port number)"
            ) from None
    if not 0 <= port < 65536:
        raise ConfigurationError(f"--metrics-port: {port} is not a TCP port")
    return host, port


def _lease_ttl(args: argparse.Namespace) -> float:
    """The flag, then TRACER_BATCHER_LEASE_TTL_S, then the default."""
    if args.lease_ttl is not None:
        return args.lease_ttl
    raw = os.environ.get("TRACER_BATCHER_LEASE_TTL_S")
    if not raw:
        return _DEFAULTS.lease_ttl_s
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigurationError(
            f"TRACER_BATCHER_LEASE_TTL_S: {raw!r} is not valid (expected seconds > 0)"
        )
    return value


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    brands = load_brands(settings.config_path)
    if not settings.redis_url:
        raise ConfigurationError(
            "REDIS_URL: not set; the batcher reads the event queue from Redis "
            "(`tracer up` starts a private redis-server and sets it)"
        )
    metrics_host, metrics_port = _metrics_address(args)
    configure_logging(settings.log_level, role="batcher")
    init_sentry("batcher", settings)
    lease_ttl_s = _lease_ttl(args)
    config = BatcherConfig(
        batch_max_events=max(1, args.batch_size),
        lease_ttl_s=lease_ttl_s,
        heartbeat_ttl_s=lease_ttl_s,
        shutdown_grace_period_s=args.grace,
        periodic_jobs=not args.no_periodic_jobs,
    )
    tune_garbage_collector()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_batcher(settings, brands, config, burst=args.burst,
                                   consumer=args.consumer, metrics_host=metrics_host,
                                   metrics_port=metrics_port))  # fmt: skip
    except (*REDIS_ERRORS, OSError) as exc:
        print(f"error: Redis at {mask_url(settings.redis_url or '')}: {exc}", file=sys.stderr)
        return 1
    return 0
