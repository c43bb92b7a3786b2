"""A circuit breaker per endpoint: stop hammering a receiver that keeps failing.

Closed: every request goes. After `failure_threshold` consecutive failures it opens: no
request goes until `open_until`. Then it is half-open: exactly one request (the probe)
goes; success closes it, failure opens it again for twice as long (up to a ceiling).

Times are wall-clock Unix seconds because the state is shared between dispatchers
through Redis (`tracer.redis_keys.endpoint_state`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Permit(enum.Enum):
    """What `CircuitBreaker.admit` grants a request."""

    REFUSED = 0
    NORMAL = 1
    PROBE = 2


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        open_s: float,
        max_open_s: float,
        probe_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.base_open_s = open_s
        self.max_open_s = max_open_s
        # A probe that never reports (cancelled at shutdown) must not block the next one.
        self.probe_timeout_s = probe_timeout_s
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.open_s = open_s
        self.open_until = 0.0
        self.probe_started = 0.0

    def admit(self) -> Permit:
        now = self.clock()
        if self.state is BreakerState.CLOSED:
            return Permit.NORMAL
        if self.state is BreakerState.OPEN and now < self.open_until:
            return Permit.REFUSED
        if self.state is BreakerState.HALF_OPEN and now < self.probe_started + self.probe_timeout_s:
            return Permit.REFUSED
        self.state = BreakerState.HALF_OPEN
        self.probe_started = now
        return Permit.PROBE

    def record_success(self) -> bool:
        """Returns True when the state changed."""
        changed = self.state is not BreakerState.CLOSED
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.open_s = self.base_open_s
        return changed

    def record_failure(self) -> bool:
        """Returns True when the state changed (the breaker opened)."""
        if self.state is BreakerState.HALF_OPEN:
            self.open_s = min(self.open_s * 2, self.max_open_s)
            self._open()
            return True
        self.failures += 1
        if self.state is BreakerState.CLOSED and self.failures >= self.failure_threshold:
            self._open()
            return True
        return False

    def adopt(self, state: BreakerState, open_until: float, open_s: float) -> None:
        """Take the state another dispatcher published, when it is news to this one."""
        if state is BreakerState.OPEN and open_until > self.open_until:
            self.state, self.open_until, self.open_s = state, open_until, open_s
        elif (
            state is BreakerState.CLOSED
            and self.state is not BreakerState.CLOSED
            and self.clock() >= self.open_until
        ):
            self.record_success()

    def _open(self) -> None:
        self.state = BreakerState.OPEN
        self.open_until = self.clock() + self.open_s
