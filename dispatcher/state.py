"""Endpoint state shared by every dispatcher through a Redis hash per endpoint (its reader
and writers: `tracer.endpoint_state`): disabled or not (after a 410 Gone), and the circuit
breaker. Each dispatcher acts on its own copy at once and publishes changes; it reads
the others' changes back every second or so.
"""

from __future__ import annotations

import logging

from dispatcher.breaker import BreakerState, CircuitBreaker
from dispatcher.endpoint import Endpoint
from dispatcher.recorder import Command, Recorder
from tracer import endpoint_state
from tracer.redis_cluster import AnyRedis

log = logging.getLogger(__name__)


class SharedStates:
    """Keeps this dispatcher's endpoints in step with the state published in Redis."""

    def __init__(self, redis: AnyRedis, recorder: Recorder, endpoints: list[Endpoint]) -> None:
        self.redis = redis
        self.recorder = recorder
        self.endpoints = endpoints
        # The disabled flag of each endpoint as last read from Redis.
        self._seen_disabled: dict[str, bool] = {}

    async def refresh(self) -> None:
        states = await endpoint_state.read_states(self.redis, (e.id for e in self.endpoints))
        for endpoint in self.endpoints:
            shared = states[endpoint.id]
            # Only news counts: a read that started before this process disabled the
            # endpoint must not re-enable it.
            if shared.disabled != self._seen_disabled.get(endpoint.id, False):
                self._seen_disabled[endpoint.id] = shared.disabled
                if shared.disabled != endpoint.disabled:
                    change = "disabled" if shared.disabled else "re-enabled"
                    log.info("Endpoint %s/%s %s", endpoint.brand, endpoint.id, change)
                endpoint.disabled = shared.disabled
                endpoint.stats.disabled = int(shared.disabled)
            breaker = BreakerState[shared.breaker.upper()]
            endpoint.breaker.adopt(breaker, shared.open_until, shared.open_s)
            endpoint.stats.breaker_state = int(endpoint.breaker.state)

    def publish_breaker(self, endpoint: Endpoint) -> None:
        state_name = endpoint.breaker.state.name.lower()
        log.warning("Circuit breaker of %s/%s is now %s", endpoint.brand, endpoint.id, state_name)
        self.recorder.write(publish_breaker(endpoint.id, endpoint.brand, endpoint.breaker))


def publish_breaker(endpoint_id: str, brand: str, breaker: CircuitBreaker) -> Command:
    return endpoint_state.publish_breaker(
        endpoint_id,
        brand,
        breaker.state.name.lower(),
        breaker.open_until,
        breaker.open_s,
        breaker.failures,
    )
