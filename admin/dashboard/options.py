"""Where the dashboard looks, read once from the environment.

The batchers' and dispatchers' `/metrics` are those the role processes registered in this
instance's data dir (`tracer.instance.register_role`, read again at every reading: roles
restart, and each binds the port it could), unless `TRACER_DASHBOARD_BATCHER_METRICS` /
`TRACER_DASHBOARD_DISPATCHER_METRICS` list the URLs of every process (comma-separated),
e.g. when they run on other machines. The dashboard never guesses a well-known port: on a
host running two Tracers, that would show the other one's batcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tracer.errors import ConfigurationError
from tracer.instance import registered_metrics

DEFAULT_PUSH_INTERVAL_S = 1.0
# The dispatcher's default (`TRACER_DISPATCHER_HEARTBEAT_TTL_S`): its heartbeat key says
# when it expires, so the time since the last beat is this TTL minus the time left.
DEFAULT_DISPATCHER_HEARTBEAT_TTL_S = 15.0


@dataclass(frozen=True)
class DashboardOptions:
    # The data dir whose registered role processes are scraped (None: none registered).
    registry_dir: Path | None = None
    # Explicit targets; None: the registered ones.
    batcher_metrics: tuple[str, ...] | None = None
    dispatcher_metrics: tuple[str, ...] | None = None
    dispatcher_heartbeat_ttl_s: float = DEFAULT_DISPATCHER_HEARTBEAT_TTL_S
    # How often a live page gets a new reading.
    push_interval_s: float = DEFAULT_PUSH_INTERVAL_S

    def targets(self, role: str) -> tuple[str, ...]:
        """The `/metrics` URLs of `role` ("batcher" or "dispatcher") to scrape now."""
        listed = self.batcher_metrics if role == "batcher" else self.dispatcher_metrics
        if listed is not None:
            return listed
        if self.registry_dir is None:
            return ()
        return registered_metrics(self.registry_dir, role)

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], registry_dir: Path | None = None
    ) -> DashboardOptions:
        return cls(
            registry_dir=registry_dir,
            batcher_metrics=_targets(environ, "BATCHER"),
            dispatcher_metrics=_targets(environ, "DISPATCHER"),
            dispatcher_heartbeat_ttl_s=_seconds(
                environ, "TRACER_DISPATCHER_HEARTBEAT_TTL_S", DEFAULT_DISPATCHER_HEARTBEAT_TTL_S
            ),
            push_interval_s=_seconds(
                environ, "TRACER_DASHBOARD_INTERVAL_S", DEFAULT_PUSH_INTERVAL_S, low=0.2
            ),
        )


def _targets(environ: Mapping[str, str], role: str) -> tuple[str, ...] | None:
    listed = environ.get(f"TRACER_DASHBOARD_{role}_METRICS", "").strip()
    if not listed:
        return None
    urls = tuple(url.strip() for url in listed.split(",") if url.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"TRACER_DASHBOARD_{role}_METRICS: {url!r} is not an http(s) URL"
            )
    return urls


def _seconds(environ: Mapping[str, str], name: str, default: float, low: float = 0.0) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: {raw!r} is not a number of seconds") from None
    if not low < value <= 3600:
        raise ConfigurationError(f"{name}: {raw!r} must be above {low:g} s and at most an hour")
    return value
