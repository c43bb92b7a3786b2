"""The edge as its workers describe themselves: the JSON snapshot every granian worker
writes to `<data dir>/metrics/edge-<pid>.json` once a second (`edge.metrics`).

Counters of every snapshot are summed, those of workers that exited included (their
requests happened); gauges and the worker list only count workers still alive. Only edge
workers on this machine are seen: their snapshots live in the local data directory.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

# The bucket bounds the edge counts latencies with; the snapshot files carry the counts only.
from tracer.edge_snapshot import LATENCY_BUCKETS

# A worker writes every second: a snapshot older than this is from a stuck worker.
STALE_AFTER_S = 5.0

RequestKey = tuple[str, int, str, str]  # route, status, brand, agent


@dataclass
class EdgeWorkerSnapshot:
    pid: int
    age_s: float
    # Its snapshot is fresh (the pid is alive in any case, or it would not be listed).
    beating: bool
    rss_bytes: float
    cpu_s: float
    requests: int


@dataclass
class EdgeReading:
    """Every worker's counters, summed."""

    requests: dict[RequestKey, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    # route -> count per bucket of `LATENCY_BUCKETS` (+1 for the open top bucket)
    latency: dict[str, list[int]] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    workers: list[EdgeWorkerSnapshot] = field(default_factory=list)

    def requests_by_route(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (route, _status, _brand, _agent), count in self.requests.items():
            totals[route] = totals.get(route, 0) + count
        return totals

    def cumulative_buckets(self, route: str | None = None) -> list[tuple[float, float]]:
        """`(bound, cumulative count)` of one route, or of all of them."""
        per_bucket = [0] * (len(LATENCY_BUCKETS) + 1)
        for name, counts in self.latency.items():
            if route is None or name == route:
                for i, count in enumerate(counts[: len(per_bucket)]):
                    per_bucket[i] += count
        cumulative, running = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), per_bucket, strict=True):
            running += count
            cumulative.append((bound, float(running)))
        return cumulative


def read_edge(metrics_dir: Path, now: float) -> EdgeReading:
    """Sum the snapshots in `metrics_dir` (a few small files: read inline)."""
    reading = EdgeReading()
    if not metrics_dir.is_dir():
        return reading
    for path in sorted(metrics_dir.glob("edge-*.json")):
        with contextlib.suppress(OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            _add(reading, orjson.loads(path.read_bytes()), now)
    return reading


def _add(reading: EdgeReading, snapshot: dict, now: float) -> None:
    pid = int(snapshot["pid"])
    age_s = max(0.0, now - float(snapshot["time"]))
    worker_requests = 0
    for route, status, brand, agent, count in snapshot["requests"]:
        key = (route, int(status), brand, agent)
        reading.requests[key] = reading.requests.get(key, 0) + count
        worker_requests += count
    for reason, count in snapshot["rejected"].items():
        reading.rejected[reason] = reading.rejected.get(reason, 0) + count
    for route, counts in snapshot["latency"].items():
        total = reading.latency.setdefault(route, [0] * len(counts))
        for i, count in enumerate(counts[: len(total)]):
            total[i] += count
    for name, value in snapshot["counters"].items():
        reading.counters[name] = reading.counters.get(name, 0.0) + value
    alive = _pid_alive(pid)
    gauges = snapshot["gauges"]
    if alive:
        for name, value in gauges.items():
            reading.gauges[name] = reading.gauges.get(name, 0.0) + value
        reading.workers.append(
            EdgeWorkerSnapshot(
                pid=pid,
                age_s=age_s,
                beating=age_s < STALE_AFTER_S,
                rss_bytes=float(gauges.get("process_resident_memory_bytes", 0.0)),
                cpu_s=float(snapshot["counters"].get("process_cpu_seconds_total", 0.0)),
                requests=worker_requests,
            )
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another user
    return True
