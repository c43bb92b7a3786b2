"""The dispatcher's tuning knobs, read once from `TRACER_*` variables and validated.

Deployment-wide settings (Redis, shards, the brands file) come from `tracer.settings`;
per-endpoint behaviour (timeouts, concurrency, batching) from the brands file. What is
left is here: the retry schedule, the circuit breaker, shutdown and liveness timings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tracer.errors import ConfigurationError
from tracer.metrics_server import ANY_FREE_PORT, DEFAULT_METRICS_HOST, parse_metrics_port
from tracer.settings import read_environment

# Standard Webhooks / Svix spirit: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 h).
DEFAULT_RETRY_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
DEFAULT_METRICS_PORT = 9102


class DispatcherOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Upper bound of the delay before attempt n+2 after attempt n+1 failed (full jitter:
    # the actual delay is drawn from [0, bound]). One attempt plus one per entry.
    retry_schedule_s: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_S
    # Two-stage shutdown: wait this long for deliveries in flight, then cancel and requeue.
    shutdown_grace_period_s: float = 10.0
    # A dispatcher whose heartbeat is older than this is dead; its jobs are adopted.
    heartbeat_ttl_s: float = 15.0
    # Consecutive failed attempts that open an endpoint's circuit breaker.
    breaker_failure_threshold: int = 5
    # How long an open breaker stays open before one probe; doubled after a failed probe.
    breaker_open_s: float = 30.0
    breaker_max_open_s: float = 600.0
    # Jobs taken from Redis and not yet settled by this process, split evenly over the
    # shards (the batcher puts each endpoint on one shard: a slow one fills its share only).
    max_inflight: int = 2048
    # Jobs moved from a shard to the processing list per round trip.
    fetch_batch: int = 256
    metrics_host: str = DEFAULT_METRICS_HOST
    # 0 serves no /metrics; ANY_FREE_PORT ("auto") any free port.
    metrics_port: int = DEFAULT_METRICS_PORT
    # Set explicitly (flag or environment): another process holding it stops the start.
    # The default port falls back to a free one instead.
    metrics_port_required: bool = False
    # Drain mode: exit once the queues, retries and in-flight jobs are all empty.
    burst: bool = False

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.retry_schedule_s)


ENVIRONMENT = {
    "TRACER_WEBHOOK_RETRY_SCHEDULE_S": "retry_schedule_s",
    "TRACER_DISPATCHER_GRACE_S": "shutdown_grace_period_s",
    "TRACER_DISPATCHER_HEARTBEAT_TTL_S": "heartbeat_ttl_s",
    "TRACER_BREAKER_FAILURES": "breaker_failure_threshold",
    "TRACER_BREAKER_OPEN_S": "breaker_open_s",
    "TRACER_BREAKER_MAX_OPEN_S": "breaker_max_open_s",
    "TRACER_DISPATCHER_MAX_INFLIGHT": "max_inflight",
    "TRACER_DISPATCHER_METRICS_HOST": "metrics_host",
    "TRACER_DISPATCHER_METRICS_PORT": "metrics_port",
}


def parse_schedule(text: str) -> tuple[float, ...]:
    """`"5,300,1800"` -> `(5.0, 300.0, 1800.0)`; an empty text means no retries."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigurationError(
            f"retry_schedule_s: {text!r} is not a comma-separated list of seconds"
        ) from None


def load_options(environ: Mapping[str, str] | None = None, **overrides: Any) -> DispatcherOptions:
    """Options from the environment, then `overrides` (command-line flags) on top; raises
    `ConfigurationError` naming the variable and its value when one is not valid."""
    values = read_environment(
        DispatcherOptions,
        ENVIRONMENT,
        environ,
        parsers={
            "retry_schedule_s": lambda raw, _variable: parse_schedule(raw),
            "metrics_port": parse_metrics_port,
        },
    )
    values.update({key: value for key, value in overrides.items() if value is not None})
    if "metrics_port" in values:
        values.setdefault("metrics_port_required", True)
    options = DispatcherOptions(**values)
    _check(options)
    return options


def _check(options: DispatcherOptions) -> None:
    if any(step < 0 for step in options.retry_schedule_s):
        raise ConfigurationError(
            f"retry_schedule_s: {options.retry_schedule_s} must not hold negative delays"
        )
    positive = ("shutdown_grace_period_s", "heartbeat_ttl_s", "breaker_open_s")
    for name in positive:
        if getattr(options, name) <= 0:
            raise ConfigurationError(f"{name}: {getattr(options, name)} must be > 0")
    if options.breaker_max_open_s < options.breaker_open_s:
        raise ConfigurationError(
            f"breaker_max_open_s: {options.breaker_max_open_s} must be >= breaker_open_s"
        )
    for name in (
        "breaker_failure_threshold",
        "max_inflight",
        "fetch_batch",
    ):
        if getattr(options, name) < 1:
            raise ConfigurationError(f"{name}: {getattr(options, name)} must be >= 1")
    if options.fetch_batch > 4000:
        # Lua's unpack() takes at most a few thousand values.
        raise ConfigurationError(f"fetch_batch: {options.fetch_batch} must be <= 4000")
    if options.metrics_port != ANY_FREE_PORT and not 0 <= options.metrics_port < 65536:
        raise ConfigurationError(f"metrics_port: {options.metrics_port} is not a TCP port")
