"""Tuning knobs of a batcher, with their units in their names, read once from the
environment (`TRACER_BATCHER_*`) by the kernel's one settings loader, flags on top."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tracer.errors import ConfigurationError
from tracer.metrics_server import DEFAULT_METRICS_HOST, parse_metrics_port
from tracer.settings import read_environment

# `tracer batcher`'s /metrics port unless --metrics-port or TRACER_BATCHER_METRICS_PORT say.
DEFAULT_METRICS_PORT = 9101


class BatcherConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Events moved from one shard into one processing list and written in one bulk call.
    batch_max_events: int = 1_000
    # Batches (of different shards) in flight at once: the next one is decoded and
    # prepared while the store writes the current one.
    concurrent_batches: int = 2
    # Pause between polls when every shard was empty (bounds the edge-to-store lag).
    idle_poll_s: float = 0.005
    # A shard's owner lease and a batcher's heartbeat expire after these; both are renewed
    # every third of the TTL. A batcher killed with -9 has its shards taken over and its
    # processing lists adopted about one TTL later.
    lease_ttl_s: float = 10.0
    heartbeat_ttl_s: float = 10.0
    # Back-off while the store or Redis is unavailable (doubling, with jitter).
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 5.0
    # At shutdown, how long the batch in hand may keep retrying a failing store before it
    # is left in its processing list for another batcher to adopt.
    shutdown_grace_period_s: float = 10.0
    # Periodic jobs (each runs on one batcher per interval, whichever takes the job lease).
    periodic_jobs: bool = True
    retention_interval_s: float = 3_600.0
    compaction_interval_s: float = 600.0
    dead_housekeeping_interval_s: float = 600.0
    # Dead lists keep at most this many entries per shard, none older than this.
    dead_max_entries: int = 100_000
    dead_retention_s: float = 14 * 86_400.0
    # /metrics and /healthz: 0 serves none (a batcher embedded in a program), ANY_FREE_PORT
    # ("auto") any free port. The `tracer batcher` role serves DEFAULT_METRICS_PORT unless
    # told otherwise (`load_batcher_config`). A port set explicitly must be the one served;
    # the role's default falls back to a free one when another process holds it.
    metrics_host: str = DEFAULT_METRICS_HOST
    metrics_port: int = 0
    metrics_port_required: bool = False

    @property
    def maintenance_interval_s(self) -> float:
        return min(self.lease_ttl_s, self.heartbeat_ttl_s) / 3


ENVIRONMENT = {
    "TRACER_BATCHER_LEASE_TTL_S": "lease_ttl_s",
    "TRACER_BATCHER_METRICS_HOST": "metrics_host",
    "TRACER_BATCHER_METRICS_PORT": "metrics_port",
}


def load_batcher_config(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> BatcherConfig:
    """The environment's settings, then `overrides` (command-line flags; None: not given)."""
    values = read_environment(
        BatcherConfig,
        ENVIRONMENT,
        environ,
        parsers={"metrics_port": parse_metrics_port, "lease_ttl_s": _positive_seconds},
    )
    values.update({key: value for key, value in overrides.items() if value is not None})
    # One TTL for the shard leases and the heartbeat, unless the heartbeat's is given.
    if "lease_ttl_s" in values:
        values.setdefault("heartbeat_ttl_s", values["lease_ttl_s"])
    if "metrics_port" in values:
        values.setdefault("metrics_port_required", True)
    else:
        values["metrics_port"] = DEFAULT_METRICS_PORT
    return BatcherConfig(**values)


def _positive_seconds(raw: str, variable: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigurationError(f"{variable}: {raw!r} is not valid (expected seconds > 0)")
    return value
