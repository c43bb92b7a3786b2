"""Where the dashboard looks, read once from the environment.

The batchers' and dispatchers' `/metrics` are found where those roles serve them on this
machine (`TRACER_BATCHER_METRICS_HOST:PORT`, 127.0.0.1:9101, and
`TRACER_DISPATCHER_METRICS_HOST:PORT`, 127.0.0.1:9102; port 0 means none), unless
`TRACER_DASHBOARD_BATCHER_METRICS` / `TRACER_DASHBOARD_DISPATCHER_METRICS` list the URLs
of every process (comma-separated), e.g. when they run on other machines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tracer.errors import ConfigurationError

DEFAULT_PUSH_INTERVAL_S = 1.0
# The dispatcher's default (`TRACER_DISPATCHER_HEARTBEAT_TTL_S`): its heartbeat key says
# when it expires, so the time since the last beat is this TTL minus the time left.
DEFAULT_DISPATCHER_HEARTBEAT_TTL_S = 15.0


@dataclass(frozen=True)
class DashboardOptions:
    batcher_metrics: tuple[str, ...] = ("http://127.0.0.1:9101/metrics",)
    dispatcher_metrics: tuple[str, ...] = ("http://127.0.0.1:9102/metrics",)
    dispatcher_heartbeat_ttl_s: float = DEFAULT_DISPATCHER_HEARTBEAT_TTL_S
    # How often a live page gets a new reading.
    push_interval_s: float = DEFAULT_PUSH_INTERVAL_S

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DashboardOptions:
        return cls(
            batcher_metrics=_targets(environ, "BATCHER", 9101),
            dispatcher_metrics=_targets(environ, "DISPATCHER", 9102),
            dispatcher_heartbeat_ttl_s=_seconds(
                environ, "TRACER_DISPATCHER_HEARTBEAT_TTL_S", DEFAULT_DISPATCHER_HEARTBEAT_TTL_S
            ),
            push_interval_s=_seconds(
                environ, "TRACER_DASHBOARD_INTERVAL_S", DEFAULT_PUSH_INTERVAL_S, low=0.2
            ),
        )


def _targets(environ: Mapping[str, str], role: str, default_port: int) -> tuple[str, ...]:
    listed = environ.get(f"TRACER_DASHBOARD_{role}_METRICS", "").strip()
    if listed:
        urls = tuple(url.strip() for url in listed.split(",") if url.strip())
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigurationError(
                    f"TRACER_DASHBOARD_{role}_METRICS: {url!r} is not an http(s) URL"
                )
        return urls
    host = environ.get(f"TRACER_{role}_METRICS_HOST") or "127.0.0.1"
    raw_port = environ.get(f"TRACER_{role}_METRICS_PORT") or str(default_port)
    if not raw_port.isdigit() or not 0 <= int(raw_port) < 65536:
        raise ConfigurationError(f"TRACER_{role}_METRICS_PORT: {raw_port!r} is not a TCP port")
    if int(raw_port) == 0:
        return ()
    return (f"http://{_reachable(host)}:{int(raw_port)}/metrics",)


def _reachable(host: str) -> str:
    """The address to scrape a server listening on `host` at."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


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
