"""Edge metrics: counted in-process on the hot path, summed over workers on /metrics.

Request durations are only appended on the hot path and added to their histogram when a
snapshot or a scrape needs it (at least once a second).

Granian runs several worker processes and a scrape reaches only one of them. Each worker
writes a snapshot of its counters to `<data dir>/metrics/edge-<pid>.json` once a second; the
worker answering /metrics adds its live counters to every other worker's last snapshot.
Snapshots of workers that exited stay (their counts happened), but not their gauges.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from tracer.edge_snapshot import LATENCY_BUCKETS
from tracer.process_metrics import cpu_seconds, rss_bytes
from tracer.prometheus import Exposition


class EdgeMetrics:
    """Counters of one worker process."""

    def __init__(self) -> None:
        # (route, status, brand, agent) -> count
        self.requests: dict[tuple[str, int, str, str], int] = {}
        # reason -> count of requests answered with the landing page or a 404
        self.rejected: dict[str, int] = {}
        # route -> per-bucket counts (+1 for +Inf), and the sum of durations
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.gauges: dict[str, float] = {}
        self.counters: dict[str, float] = {}
        # route -> durations not yet added to the histogram (the hot path only appends).
        self._pending: dict[str, list[float]] = {}

    def count(self, route: str, status: int, brand: str, agent: str) -> None:
        key = (route, status, brand, agent)
        self.requests[key] = self.requests.get(key, 0) + 1

    def latency_of(self, route: str) -> Callable[[float], None]:
        """The hot path's only metrics call for `route`: it appends the seconds a request
        took; `settle` (at each snapshot or scrape) adds them to the histogram."""
        if route not in self.latency:
            self.latency[route] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.latency_sum[route] = 0.0
        return self._pending.setdefault(route, []).append

    def settle(self) -> None:
        for route, pending in self._pending.items():
            if not pending:
                continue
            durations = pending[:]
            del pending[: len(durations)]
            buckets = self.latency[route]
            for seconds in durations:
                buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.latency_sum[route] += sum(durations)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def observe(self, route: str, seconds: float) -> None:
        buckets = self.latency.get(route)
        if buckets is None:
            buckets = self.latency[route] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.latency_sum[route] = 0.0
        buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum[route] += seconds

    def snapshot(self) -> dict[str, object]:
        self.settle()
        return {
            "pid": os.getpid(),
            "time": time.time(),
            "requests": [[*key, value] for key, value in self.requests.items()],
            "rejected": self.rejected,
            "latency": self.latency,
            "latency_sum": self.latency_sum,
            "counters": {
                **self.counters,
                "process_cpu_seconds_total": cpu_seconds(),
            },
            "gauges": {**self.gauges, "process_resident_memory_bytes": rss_bytes()},
        }


class SnapshotStore:
    """The directory where workers leave their snapshots."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.own = directory / f"edge-{os.getpid()}.json"

    def write(self, metrics: EdgeMetrics) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.own.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(metrics.snapshot()))
        os.replace(temporary, self.own)

    def others(self) -> list[dict]:
        snapshots = []
        if not self.directory.is_dir():
            return snapshots
        for path in self.directory.glob("edge-*.json"):
            if path == self.own:
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                snapshots.append(orjson.loads(path.read_bytes()))
        return snapshots


def clear_snapshots(directory: Path) -> None:
    """Called once by the parent before workers start: counts restart from zero."""
    for path in directory.glob("edge-*.json") if directory.is_dir() else ():
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(own: EdgeMetrics, others: list[dict]) -> bytes:
    """Prometheus text exposition of every worker's counters, summed."""
    snapshots = [own.snapshot(), *others]
    requests: dict[tuple, float] = {}
    rejected: dict[str, float] = {}
    latency: dict[str, list[float]] = {}
    latency_sum: dict[str, float] = {}
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}
    for snap in snapshots:
        for *key, value in snap["requests"]:
            requests[tuple(key)] = requests.get(tuple(key), 0) + value
        for reason, value in snap["rejected"].items():
            rejected[reason] = rejected.get(reason, 0) + value
        for route, buckets in snap["latency"].items():
            total = latency.setdefault(route, [0] * len(buckets))
            for i, value in enumerate(buckets):
                total[i] += value
            latency_sum[route] = latency_sum.get(route, 0.0) + snap["latency_sum"][route]
        for name, value in snap["counters"].items():
            counters[name] = counters.get(name, 0) + value
        if snap is snapshots[0] or _alive(int(snap["pid"])):
            for name, value in snap["gauges"].items():
                gauges[name] = gauges.get(name, 0) + value
    out = Exposition()
    out.family(
        "tracer_edge_requests_total",
        "counter",
        "Requests answered by the edge, by route, status, brand and traffic verdict.",
    )
    for (route, status, brand, agent), value in sorted(requests.items()):
        labels = {"route": route, "status": status, "brand": brand, "agent": agent}
        out.sample("tracer_edge_requests_total", value, labels)
    out.family(
        "tracer_edge_rejected_total",
        "counter",
        "Requests with a bad, tampered, expired or unknown token or host, by reason.",
    )
    for reason, value in sorted(rejected.items()):
        out.sample("tracer_edge_rejected_total", value, {"reason": reason})
    name = "tracer_edge_request_duration_seconds"
    out.family(
        name,
        "histogram",
        "Time from the request reaching the application to its response being handed over.",
    )
    for route, buckets in sorted(latency.items()):
        out.histogram(name, LATENCY_BUCKETS, buckets, round(latency_sum[route], 6),
                      {"route": route})  # fmt: skip
    for name, value in sorted(counters.items()):
        out.single(name, "counter", _HELP.get(name, name), value)
    for name, value in sorted(gauges.items()):
        out.single(name, "gauge", _HELP.get(name, name), value)
    out.single("tracer_edge_workers", "gauge", "Live edge worker processes.",
               sum(1 for s in snapshots if _alive(int(s["pid"]))))  # fmt: skip
    return out.text().encode()


_HELP = {
    "process_cpu_seconds_total": "User and system CPU time of the edge workers.",
    "process_resident_memory_bytes": "Resident memory of the live edge workers.",
    "tracer_edge_events_buffered": "Events waiting in worker buffers for the next flush.",
    "tracer_edge_spool_bytes": "Bytes of events spooled to disk while Redis is unreachable.",
    "tracer_edge_redis_up": "Workers that can reach Redis.",
    "tracer_edge_revocation_rules": "Revocation rules each worker holds, summed over workers.",
    "tracer_edge_batches_pushed_total": "Event batches appended to the Redis queue.",
    "tracer_edge_events_pushed_total": "Events appended to the Redis queue.",
    "tracer_edge_batches_spooled_total": "Event batches written to the spool.",
    "tracer_edge_events_spooled_total": "Events written to the spool.",
    "tracer_edge_batches_replayed_total": "Spooled batches replayed into Redis.",
    "tracer_edge_events_replayed_total": "Spooled events replayed into Redis.",
    "tracer_edge_redis_errors_total": "Failed Redis operations of the flusher.",
    "tracer_edge_spools_adopted_total": "Spool files of dead workers adopted and replayed.",
}
