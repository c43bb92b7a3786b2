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
from pathlib import Path

import msgspec

from tracer.errors import ConfigurationError
from tracer.instance import registered_metrics
from tracer.settings import read_environment


class DashboardOptions(msgspec.Struct, frozen=True, kw_only=True):
    # The data dir whose registered role processes are scraped (None: none registered).
    registry_dir: Path | None = None
    # Explicit targets; None: the registered ones.
    batcher_metrics: tuple[str, ...] | None = None
    dispatcher_metrics: tuple[str, ...] | None = None
    # How often a live page gets a new reading.
    push_interval_s: float = 1.0

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
        values = read_environment(
            cls,
            ENVIRONMENT,
            environ,
            parsers={
                "batcher_metrics": _urls,
                "dispatcher_metrics": _urls,
                "push_interval_s": _interval,
            },
        )
        return cls(registry_dir=registry_dir, **values)


ENVIRONMENT = {
    "TRACER_DASHBOARD_BATCHER_METRICS": "batcher_metrics",
    "TRACER_DASHBOARD_DISPATCHER_METRICS": "dispatcher_metrics",
    "TRACER_DASHBOARD_INTERVAL_S": "push_interval_s",
}


def _urls(raw: str, variable: str) -> tuple[str, ...] | None:
    urls = tuple(url.strip() for url in raw.split(",") if url.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{variable}: {url!r} is not an http(s) URL")
    return urls or None


def _interval(raw: str, variable: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{variable}: {raw!r} is not a number of seconds") from None
    if not 0.2 < value <= 3600:
        raise ConfigurationError(f"{variable}: {raw!r} must be above 0.2 s and at most an hour")
    return value
