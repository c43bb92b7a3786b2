"""Rates and recent latencies from counters: the dashboard keeps the readings of the last
few seconds and compares the newest with the oldest of them, as PromQL's `rate()` does
(a counter that went down was reset by a restart: it counts from zero again).

It also keeps one point per reading for the last few minutes: the charts' history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from admin.dashboard.model import History
from admin.dashboard.prometheus import quantile

Buckets = list[tuple[float, float]]  # cumulative (bound, count)

RATE_WINDOW_S = 5.0
HISTORY_S = 300.0
# A baseline older than this many windows is too old to measure a rate from.
STALE_BASELINE = 3


@dataclass
class Reading:
    """The counters the dashboard turns into rates, at time `t`."""

    t: float
    edge_requests: dict[str, float] = field(default_factory=dict)  # by route
    edge_latency: dict[str, Buckets] = field(default_factory=dict)  # by route, "" = all
    rejected: dict[str, float] = field(default_factory=dict)  # by reason
    stored: float | None = None
    lag: Buckets | None = None


@dataclass
class Point:
    t: float
    edge_per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    queue_depth: int | None
    stored_per_s: float | None


class Window:
    def __init__(self, rate_window_s: float = RATE_WINDOW_S, history_s: float = HISTORY_S) -> None:
        self.rate_window_s = rate_window_s
        self.history_s = history_s
        self._readings: deque[Reading] = deque()
        self._points: deque[Point] = deque()

    def add(self, reading: Reading) -> None:
        self._readings.append(reading)
        # Keep one reading older than the window: the baseline of the next rate.
        while len(self._readings) > 2 and self._readings[1].t <= reading.t - self.rate_window_s:
            self._readings.popleft()

    @property
    def latest(self) -> Reading:
        return self._readings[-1]

    @property
    def baseline(self) -> Reading | None:
        """The reading rates are measured from; None when there is none recent enough (the
        page was not watched for a while: an average over that gap would mislead)."""
        if len(self._readings) < 2:
            return None
        base = self._readings[0]
        return base if self.latest.t - base.t <= STALE_BASELINE * self.rate_window_s else None

    def per_s(self, value: Callable[[Reading], float | None]) -> float | None:
        """Rate of the counter `value` reads, over the window; None when unknown."""
        base = self.baseline
        if base is None:
            return None
        now, then = value(self.latest), value(base)
        if now is None or then is None:
            return None
        elapsed = self.latest.t - base.t
        return _increase(now, then) / elapsed if elapsed > 0 else None

    def recent_quantile(
        self, buckets: Callable[[Reading], Buckets | None], q: float
    ) -> float | None:
        """`q`-quantile of what a histogram observed within the window."""
        now = buckets(self.latest)
        base = self.baseline
        then = buckets(base) if base is not None else None
        if now is None:
            return None
        if then is None:
            return quantile(now, q)
        earlier = dict(then)
        recent = [(bound, _increase(count, earlier.get(bound, 0.0))) for bound, count in now]
        return quantile(recent, q)

    def record(self, point: Point) -> None:
        self._points.append(point)
        while self._points and self._points[0].t < point.t - self.history_s:
            self._points.popleft()

    def history(self) -> History:
        points = list(self._points)
        return History(
            t=[round(p.t, 3) for p in points],
            edge_per_s=[p.edge_per_s for p in points],
            p50_ms=[p.p50_ms for p in points],
            p99_ms=[p.p99_ms for p in points],
            queue_depth=[p.queue_depth for p in points],
            stored_per_s=[p.stored_per_s for p in points],
        )


def total(mapping: Mapping[str, float]) -> float:
    return float(sum(mapping.values()))


def _increase(now: float, then: float) -> float:
    return now - then if now >= then else now
